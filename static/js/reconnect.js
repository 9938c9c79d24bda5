// How soon a screen's WebSocket tries again after it closed. htmx-ext-ws waits a random
// time up to 1 s, 2 s, 4 s… 64 s (full jitter); after a restart that took a few tries a
// lobby could stay stale for most of a minute. The same jitter capped at 5 s brings every
// screen back within seconds of the server, still spread at random so that a thousand
// screens do not arrive at once (docs/architecture.md).
(function () {
  "use strict";
  var CAP_MS = 5000;
  htmx.config.wsReconnectDelay = function (retryCount) {
    return Math.min(CAP_MS, 1000 * Math.pow(2, retryCount)) * Math.random();
  };
})();
