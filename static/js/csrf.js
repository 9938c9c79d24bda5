// The CSRF token of app/access/csrf.py, sent back with every request the page makes with its
// cookie: a header on htmx requests and on window.lobbyline.csrfFetch, and the hidden
// `csrf_token` field of plain forms.
(function () {
  "use strict";

  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function fillForms(root) {
    var value = token();
    if (!value) return;
    (root || document).querySelectorAll('input[type="hidden"][name="csrf_token"]')
      .forEach(function (input) { input.value = value; });
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var value = token();
    if (value) event.detail.headers["X-CSRF-Token"] = value;
  });
  document.addEventListener("htmx:load", function (event) { fillForms(event.target); });
  document.addEventListener("DOMContentLoaded", function () { fillForms(document); });

  window.lobbyline = window.lobbyline || {};
  // fetch() with the token: for a page's own scripts that post without htmx.
  window.lobbyline.csrfFetch = function (url, options) {
    options = Object.assign({credentials: "same-origin"}, options || {});
    var headers = new Headers(options.headers || {});
    var value = token();
    if (value) headers.set("X-CSRF-Token", value);
    options.headers = headers;
    return fetch(url, options);
  };
  window.lobbyline.csrfToken = token;
})();
