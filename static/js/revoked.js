// A paired device whose pairing was revoked has its sockets closed with code 4401: the
// screen goes back to /pair (htmx-ext-ws fires htmx:wsClose with the CloseEvent).
(function () {
  "use strict";
  var REVOKED = 4401;
  document.addEventListener("htmx:wsClose", function (event) {
    var close = event.detail && event.detail.event;
    if (close && close.code === REVOKED) window.location.assign("/pair?revoked=1");
  });
})();
