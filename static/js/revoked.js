// A paired device whose pairing was revoked has its sockets closed with code 4401: the
// screen goes back to /pair. A staff page whose session ended (signed out elsewhere,
// locked when idle, user disabled) gets 4403 and goes to sign-in. htmx-ext-ws fires
// htmx:wsClose with the CloseEvent.
(function () {
  "use strict";
  var REVOKED = 4401;
  var SESSION_ENDED = 4403;
  document.addEventListener("htmx:wsClose", function (event) {
    var close = event.detail && event.detail.event;
    if (close && close.code === REVOKED) window.location.assign("/pair?revoked=1");
    if (close && close.code === SESSION_ENDED) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    }
  });
})();
