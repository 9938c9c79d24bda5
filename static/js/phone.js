// The patient's phone page: htmx refreshes the status in place (phone_macros.html says
// how often); this buzzes the phone once when the ticket is called, and says so when the
// page cannot reach the clinic, in the page's language: the sentences come translated from
// the template (#phone-link's data-ended, data-offline). `window.lobbyline.vibrations` is
// for the tests.
(function () {
  "use strict";
  var hook = window.lobbyline = window.lobbyline || {};
  hook.vibrations = 0;
  var last = null;
  var failures = 0;

  function current() {
    var el = document.getElementById("phone-status");
    return el ? el.getAttribute("data-status") : null;
  }

  function showLink(which) {
    var el = document.getElementById("phone-link");
    if (!el) return;
    var text = which ? el.getAttribute("data-" + which) : "";
    el.textContent = text || "";
    el.hidden = !text;
  }

  function check() {
    var now = current();
    if (now === "called" && last !== null && last !== "called") {
      hook.vibrations += 1;
      if (navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 800]);
    }
    last = now;
  }

  document.addEventListener("DOMContentLoaded", function () { last = current(); });
  document.addEventListener("htmx:afterSwap", function () {
    failures = 0;
    showLink("");
    check();
  });
  document.addEventListener("htmx:responseError", function (e) {
    if (e.detail && e.detail.xhr && e.detail.xhr.status === 404) {
      showLink("ended");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    failures += 1;
    if (failures >= 2) showLink("offline");
  });
})();
