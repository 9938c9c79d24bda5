// The idle lock of a staff page: after the session's idle limit without a request, the
// session is ended and the page shows the sign-in again, saying why. The server holds the
// same limit, so a reload (or a request after the lock) also lands on the sign-in.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="idle-lock-seconds"]');
  var seconds = meta ? parseInt(meta.getAttribute("content"), 10) : 0;
  if (!seconds) return;
  var timer = null;
  var locked = false;

  function signIn() {
    return "/login?locked=1&next=" + encodeURIComponent(window.location.pathname);
  }

  function lock() {
    if (locked) return;
    locked = true;
    var done = function () { window.location.assign(signIn()); };
    var post = window.lobbyline && window.lobbyline.csrfFetch;
    if (post) {
      post("/logout", {method: "POST", keepalive: true, redirect: "manual"}).then(done, done);
    } else {
      done();
    }
  }

  function activity() {
    if (locked) return;
    window.clearTimeout(timer);
    timer = window.setTimeout(lock, seconds * 1000);
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var landed = xhr && xhr.responseURL ? new URL(xhr.responseURL).pathname : "";
    if ((xhr && xhr.status === 401) || landed === "/login") {
      locked = true;
      window.location.assign(signIn());
      return;
    }
    activity();
  });
  document.addEventListener("submit", activity);
  activity();
})();
