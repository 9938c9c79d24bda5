// An htmx extension for the screens' sockets: a pushed frame carries every fragment of
// its audience (each replaces the element with its id), and a screen may show only some
// of them (a kiosk step without the waits, a lobby limited to some queues). htmx would log
// an error for each one missing; this drops them before the swap.
(function () {
  "use strict";

  htmx.defineExtension("present-only", {
    transformResponse: function (text) {
      var template = document.createElement("template");
      template.innerHTML = text;
      var children = Array.from(template.content.children);
      var shown = children.filter(function (el) {
        return !el.id || document.getElementById(el.id) !== null;
      });
      if (shown.length === children.length) return text;
      return shown.map(function (el) { return el.outerHTML; }).join("");
    }
  });
})();
