// Clocks and wait timers run here, from timestamps in the markup: the server pushes
// only when something changes, never to tick.
(function () {
  "use strict";

  function minutesSince(iso) {
    var then = Date.parse(iso);
    if (isNaN(then)) return null;
    return Math.max(0, Math.floor((Date.now() - then) / 60000));
  }

  function tick() {
    var now = new Date();
    document.querySelectorAll("[data-clock]").forEach(function (el) {
      el.textContent = now.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var m = minutesSince(el.getAttribute("data-since"));
      if (m === null) return;
      el.textContent = m < 60 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min";
      el.classList.toggle("late", m >= 20);
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:oobAfterSwap", tick);
  document.addEventListener("htmx:wsAfterMessage", tick);
  setInterval(tick, 15000);
})();
