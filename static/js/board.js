// The front-desk board in the browser: row-level updates from the socket, timers and
// alerts from timestamps in the markup, the PSR's own settings (desk, filters, sound,
// shortcuts) kept in localStorage, and every answer turned into a sentence on the page.
(function () {
  "use strict";

  var app = document.querySelector(".board-app");
  if (!app) return;
  var site = app.getAttribute("data-site");
  var tz = app.getAttribute("data-tz");
  var amberMin = Number(app.getAttribute("data-amber-min")) || 0;
  var redMin = Number(app.getAttribute("data-red-min")) || 0;
  var store = window.localStorage;
  var KEY = "lobbyline:" + site + ":";

  // ---- Board actions send JSON (priority and minutes as numbers, flags as a list).
  var INTS = { priority: true, minutes: true };
  var LISTS = { flags: true };
  htmx.defineExtension("board-json", {
    init: function (api) { this.api = api; },
    onEvent: function (name, evt) {
      if (name === "htmx:configRequest") evt.detail.headers["Content-Type"] = "application/json";
    },
    encodeParameters: function (xhr, parameters, elt) {
      xhr.overrideMimeType("text/json");
      var body = {};
      parameters.forEach(function (value, key) {
        if (typeof value !== "string") return;
        if (LISTS[key]) { (body[key] = body[key] || []).push(value); return; }
        if (value === "" ) return;
        body[key] = INTS[key] && /^[0-9]+$/.test(value) ? Number(value) : value;
      });
      var vals = this.api.getExpressionVars(elt);
      Object.keys(vals).forEach(function (k) { body[k] = vals[k]; });
      return JSON.stringify(body);
    }
  });

  // ---- Socket frames: merge by element id, so only what changed is replaced, rows are
  // moved only when their order changed, and an open menu or a field being typed in
  // survives a change elsewhere.
  var served = new Map();   // element id -> the server's markup last applied
  var order = new Map();    // keyed container id -> ids in the server's order
  var pending = new Map();  // row id -> markup held back while someone types in it

  function remember(root) {
    if (root.id) served.set(root.id, root.outerHTML);
    if (root.hasAttribute && root.hasAttribute("data-keyed")) {
      order.set(root.id, Array.from(root.children).map(function (c) { return c.id; }));
      Array.from(root.children).forEach(remember);
    }
  }
  document.querySelectorAll(".board-main [hx-swap-oob]").forEach(remember);

  function typingIn(el) {
    var a = document.activeElement;
    return a && el.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName);
  }

  function replace(old, fresh) {
    var hadFocus = old.contains(document.activeElement);
    document.querySelectorAll("details[open]").forEach(function (d) {
      if (old.contains(d)) {
        var twin = fresh.querySelector("#" + CSS.escape(d.id));
        if (twin) twin.open = true;
      }
    });
    old.replaceWith(fresh);
    htmx.process(fresh);
    if (hadFocus && fresh.matches("tr")) fresh.focus({ preventScroll: true });
  }

  // Put `node` right after `prev` (first when null), moving it only if it is elsewhere.
  function place(parent, node, prev) {
    var want = prev ? prev.nextElementSibling : parent.firstElementChild;
    if (want !== node) parent.insertBefore(node, want);
  }

  function merge(old, fresh) {
    var html = fresh.outerHTML;
    if (served.get(old.id) === html) return old;
    if (!(old.hasAttribute("data-keyed") && fresh.hasAttribute("data-keyed"))) {
      if (old.matches("tr") && typingIn(old)) { pending.set(old.id, html); return old; }
      pending.delete(old.id);
      replace(old, fresh);
      remember(fresh);
      return fresh;
    }
    Array.from(fresh.attributes).forEach(function (a) {
      if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
    });
    Array.from(old.attributes).forEach(function (a) {
      if (!fresh.hasAttribute(a.name)) old.removeAttribute(a.name);
    });
    var ids = Array.from(fresh.children).map(function (c) { return c.id; });
    var kids = new Map();
    Array.from(old.children).forEach(function (c) { if (c.id) kids.set(c.id, c); else c.remove(); });
    var prev = null;
    Array.from(fresh.children).forEach(function (child) {
      var node = kids.get(child.id);
      if (node) {
        kids.delete(child.id);
        node = merge(node, child);
        place(old, node, prev);
      } else {
        node = child;
        place(old, node, prev);
        htmx.process(node);
        remember(node);
      }
      prev = node;
    });
    kids.forEach(function (c) { served.delete(c.id); c.remove(); });
    served.set(old.id, html);
    order.set(old.id, ids);
    return old;
  }

  function applyFrame(markup) {
    var t = document.createElement("template");
    t.innerHTML = markup;
    Array.from(t.content.children).forEach(function (fresh) {
      var old = fresh.id && document.getElementById(fresh.id);
      if (old) merge(old, fresh);
    });
    refresh();
  }

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    evt.preventDefault();
    applyFrame(evt.detail.message);
  });
  document.addEventListener("focusout", function () {
    setTimeout(function () {
      pending.forEach(function (html, id) {
        var old = document.getElementById(id);
        if (!old || typingIn(old)) return;
        pending.delete(id);
        var t = document.createElement("template");
        t.innerHTML = html;
        merge(old, t.content.firstElementChild);
      });
    }, 0);
  });
  document.addEventListener("htmx:wsClose", function () {
    say("Connection lost; reconnecting… The board will catch up by itself.", "warn");
  });
  document.addEventListener("htmx:wsOpen", function () {
    var f = document.getElementById("board-feedback");
    if (f && f.classList.contains("warn")) say("", "");
  });

  // ---- Timers, colours and alerts, in the site's time zone.
  // The site's one way of writing a time (12- or 24-hour), whatever the PC's own settings.
  var clockFormat = new Intl.DateTimeFormat("en-US", { timeZone: tz, hour: "numeric", minute: "2-digit",
    hourCycle: app.getAttribute("data-hour12") === "no" ? "h23" : "h12" });
  var alerted = new Set();
  var lastBanners = 0;

  // A duration always says what it measures: "waiting 5 min", "called 1:47 ago" (minutes
  // and seconds since the call), "here 40 min" (since check-in, once in a room).
  function waitText(ms, seconds, status) {
    var s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    var m = Math.floor(s / 60);
    if (seconds) return "called " + m + ":" + String(s % 60).padStart(2, "0") + " ago";
    var span = m < 60 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min";
    return (status === "waiting" ? "waiting " : "here ") + span;
  }

  function tick() {
    var now = Date.now();
    var alertsOn = document.getElementById("alerts-on").checked;
    document.querySelectorAll("[data-site-clock]").forEach(function (el) {
      el.textContent = clockFormat.format(now);
    });
    document.querySelectorAll("time.local-time[data-ms]").forEach(function (el) {
      el.textContent = clockFormat.format(Number(el.getAttribute("data-ms")));
    });
    var newRed = false;
    document.querySelectorAll("tr.visit").forEach(function (row) {
      var timer = row.querySelector("[data-timer-ms]");
      var since = Number(timer && timer.getAttribute("data-timer-ms"));
      if (!since) return;
      timer.textContent = waitText(since, timer.getAttribute("data-seconds") === "yes",
                                   timer.getAttribute("data-status"));
      var minutes = (now - since) / 60000;
      var waiting = row.classList.contains("visit--waiting");
      var red = alertsOn && waiting && redMin > 0 && minutes >= redMin;
      var amber = alertsOn && waiting && !red && amberMin > 0 && minutes >= amberMin;
      row.classList.toggle("wait-red", red);
      row.classList.toggle("wait-amber", amber);
      if (red && !alerted.has(row.id)) { alerted.add(row.id); newRed = true; }
    });
    // Called and not in a room after a while: the row offers "Recall?" (one action).
    var newRecall = false;
    document.querySelectorAll("tr.visit [data-due-ms]").forEach(function (button) {
      var due = alertsOn && now >= Number(button.getAttribute("data-due-ms"));
      var row = button.closest("tr.visit");
      button.hidden = !due;
      row.classList.toggle("recall-due", due);
      var key = "recall:" + row.id + ":" + button.getAttribute("data-due-ms");
      if (due && !alerted.has(key)) { alerted.add(key); newRecall = true; }
    });
    document.querySelectorAll(".appt-row[data-start-ms]").forEach(function (li) {
      var late = now > Number(li.getAttribute("data-start-ms")) + Number(li.getAttribute("data-late-ms"));
      li.classList.toggle("late", late);
      li.querySelector(".late-tag").hidden = !late;
    });
    var alerts = document.getElementById("board-alerts");
    var banners = alerts ? Number(alerts.getAttribute("data-count")) : 0;
    if (alerts) alerts.hidden = !alertsOn;
    if (alertsOn && (newRed || newRecall || banners > lastBanners)) beep();
    lastBanners = banners;
  }

  var audio = null;
  function beep() {
    if (!document.getElementById("sound-on").checked) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 660;
      gain.gain.setValueAtTime(0.0001, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.08, audio.currentTime + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.4);
    } catch (e) { /* no sound on this browser: the colours still show */ }
  }

  // ---- Search, filters and sort (this board only).
  function byId(id) { return document.getElementById(id); }

  function refresh() {
    var q = byId("board-search").value.trim().toLowerCase();
    var queue = byId("filter-queue").value;
    var provider = byId("filter-provider").value;
    var minPriority = Number(byId("filter-priority").value);
    var sort = byId("sort-by").value;
    document.querySelectorAll("section.board-queue[data-queue]").forEach(function (s) {
      s.hidden = !!queue && s.getAttribute("data-queue") !== queue;
    });
    document.querySelectorAll("tr.visit").forEach(function (row) {
      row.hidden = (q && row.getAttribute("data-search").indexOf(q) < 0) ||
        (provider && row.getAttribute("data-provider") !== provider) ||
        Number(row.getAttribute("data-priority")) < minPriority ||
        (queue && row.getAttribute("data-queue") !== queue);
    });
    document.querySelectorAll(".appt-row").forEach(function (li) {
      li.hidden = (q && li.getAttribute("data-search").indexOf(q) < 0) ||
        (provider && li.getAttribute("data-provider") !== provider);
    });
    document.querySelectorAll("tbody[data-keyed]").forEach(function (body) {
      var ids = (order.get(body.id) || []).slice();
      if (sort === "wait") {
        ids.sort(function (a, b) { return num(a, "data-checked-in-ms") - num(b, "data-checked-in-ms"); });
      } else if (sort === "appt") {
        ids.sort(function (a, b) { return text(a, "data-appt").localeCompare(text(b, "data-appt")); });
      }
      var prev = null;
      ids.forEach(function (id) {
        var row = byId(id);
        if (!row) return;
        place(body, row, prev);
        prev = row;
      });
    });
    held.forEach(function (h, id) { var row = byId(id); if (row) hold(row, true); });
    tick();
  }
  function num(id, attr) { var el = byId(id); return el ? Number(el.getAttribute(attr)) || 0 : 0; }
  function text(id, attr) { var el = byId(id); return (el && el.getAttribute(attr)) || "99:99"; }

  ["board-search", "filter-queue", "filter-provider", "filter-priority", "sort-by", "alerts-on"]
    .forEach(function (id) {
      byId(id).addEventListener("input", refresh);
      byId(id).addEventListener("change", function () {
        if (id !== "board-search") store.setItem(KEY + id, byId(id).type === "checkbox" ? byId(id).checked : byId(id).value);
        refresh();
      });
    });

  // ---- Settings kept per board: the desk calls go to, filters, sound, shortcuts.
  function restore(id) {
    var el = byId(id);
    var saved = store.getItem(KEY + id);
    if (saved === null) return;
    if (el.type === "checkbox") el.checked = saved === "true";
    else if (Array.from(el.options).some(function (o) { return o.value === saved; })) el.value = saved;
  }
  ["my-desk", "filter-queue", "filter-provider", "filter-priority", "sort-by", "alerts-on",
    "sound-on", "keys-on"].forEach(restore);
  ["my-desk", "sound-on", "keys-on"].forEach(function (id) {
    byId(id).addEventListener("change", function () {
      store.setItem(KEY + id, byId(id).type === "checkbox" ? byId(id).checked : byId(id).value);
      if (id === "sound-on" && byId(id).checked) beep();
    });
  });

  document.addEventListener("htmx:configRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.hasAttribute("data-to-my-desk") && byId("my-desk").value) {
      evt.detail.parameters.room = byId("my-desk").value;
    }
    // What was asked for, so the answer can say it back ("Recorded $20.00 copay by card").
    if (elt) {
      var p = evt.detail.parameters;
      elt.lobbylineSent = { amount: p.amount, method: p.method, queue: p.queue, room: p.room,
        priority: p.priority, note: p.note };
    }
  });

  // ---- Every answer becomes a sentence.
  function say(sentence, kind) {
    var f = byId("board-feedback");
    f.textContent = sentence;
    f.className = "feedback" + (kind ? " " + kind : "");
  }

  function roomName(id) {
    var opt = id && byId("my-desk").querySelector('option[value="' + CSS.escape(id) + '"]');
    return opt ? opt.textContent : id || "";
  }

  var STATUS = { waiting: "waiting", called: "called", in_room: "in a room", checkout: "at check-out",
    done: "done", no_show: "a no-show", left: "gone (left)" };

  function success(elt, xhr) {
    var what = elt.getAttribute("data-what") || "Done";
    if (xhr.status === 204) {
      return "Nobody is waiting in " + (elt.getAttribute("data-queue-name") || "that queue") + ".";
    }
    var data = {};
    try { data = JSON.parse(xhr.responseText || "{}"); } catch (e) { data = {}; }
    var ticket = data.ticket || elt.getAttribute("data-ticket") || "";
    if (what === "Recall") {
      return "Called " + ticket + " again" + (data.room ? " to " + roomName(data.room) : "") + ".";
    }
    if (what === "Call next" || what === "Call") {
      return "Called " + ticket + (data.name ? " (" + data.name + ")" : "") +
        (data.room ? " to " + roomName(data.room) : "") + ".";
    }
    if (what === "Check in") {
      return (xhr.status === 200 ? data.name + " was already checked in as " : "Checked in ") +
        ticket + (xhr.status === 201 && data.name ? ": " + data.name : "") + ".";
    }
    if (what === "Post message") return "Posted on the lobby screens.";
    if (what === "On my way") return "The kiosk's call for help is answered.";
    if (what === "Clear message") return "The lobby message is cleared.";
    if (data.id && data.status && data.ticket) return movedSentence(elt, what, ticket, data);
    return what + ": done.";
  }

  function queueName(id) {
    var opt = id && byId("filter-queue").querySelector('option[value="' + CSS.escape(id) + '"]');
    return opt ? opt.textContent : id || "";
  }

  function ordinal(n) {
    var s = n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] || "th";
    return n + s;
  }

  function dollars(cents) {
    return "$" + (cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  // A move's answer (the visit as it now is) as a sentence saying what happened.
  function movedSentence(elt, what, ticket, data) {
    var sent = elt.lobbylineSent || {};
    var place = data.status === "waiting" && data.position ?
      ", waiting " + ordinal(data.position) : "";
    var where = queueName(data.queue);
    switch (what) {
      case "Copay":
        var amount = Number(String(sent.amount || "").replace("$", ""));
        return "Recorded " + (amount > 0 ? dollars(Math.round(amount * 100)) + " " : "") +
          "copay" + (sent.method ? " by " + sent.method : "") + " for " + ticket +
          (amount > 0 && data.copay_cents > Math.round(amount * 100) ?
            " (" + dollars(data.copay_cents) + " paid for this visit)." : ".");
      case "Transfer": return ticket + " moved to " + where + place + ".";
      case "Return": return ticket + " is back in " + where + place + ".";
      case "Room": return ticket + " is in " + roomName(data.room) + ".";
      case "Check-out": return ticket + " is at check-out.";
      case "Done": return ticket + " is done.";
      case "No-show": return ticket + " is marked as a no-show.";
      case "Left": return ticket + " is marked as left.";
      case "Priority":
        return ticket + "'s priority is now " + (PRIORITY[data.priority] || data.priority) +
          (place ? place + " in " + where : "") + ".";
      case "Note": return data.note ? "Saved the note for " + ticket + "." : "Removed the note for " + ticket + ".";
    }
    // A flag's button: "Insurance verified", "Forms done", …
    return what + " for " + ticket + ".";
  }
  var PRIORITY = { 0: "normal", 1: "high", 2: "urgent" };

  function failure(elt, xhr) {
    var ticket = elt.getAttribute("data-ticket");
    var what = elt.getAttribute("data-what") || "That";
    var data = null;
    try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
    if (xhr.status === 0) return "The server did not answer; check the connection and try again.";
    if (xhr.status === 401) return "Your session has ended: sign in again to carry on.";
    if (!data || !data.detail) return "That did not work (" + xhr.status + "); try again.";
    if (data.error === "conflict" && ticket) {
      return ticket + " is already " + (STATUS[data.status] || data.status) +
        ": someone else got there first. The board shows where it is now.";
    }
    if (data.error === "room_occupied") {
      return "That room or desk already has a patient: finish or return them first, or pick another one.";
    }
    if (data.error === "invalid") return (ticket ? ticket + ": " : "") + data.detail;
    return (ticket ? ticket + ": " : "") + what + " — " + data.detail;
  }

  // ---- Undo. A move that takes a patient off the board (done, no-show, left) is held for
  // a few seconds, the row dimmed and Undo offered, and only then sent; leaving the page
  // sends what is held at once. Nothing is taken back on the server, where a finished
  // visit stays finished: what Undo cancels is a request not yet made.
  var undoMs = (Number(app.getAttribute("data-undo-seconds")) || 0) * 1000;
  var FINISHING = /\/(done|no-show|left)$/;
  var held = new Map(); // row id -> {elt, url, timer}

  function hold(row, on) {
    row.classList.toggle("held", on);
    row.inert = on;
  }

  document.addEventListener("htmx:confirm", function (evt) {
    var elt = evt.detail.elt;
    var url = elt.getAttribute("hx-post") || "";
    var row = elt.closest("tr.visit");
    if (!undoMs || !row || !FINISHING.test(url) || held.has(row.id)) return;
    evt.preventDefault();
    var entry = { elt: elt, url: url, timer: window.setTimeout(function () { send(row.id); }, undoMs) };
    held.set(row.id, entry);
    var keyboard = row.contains(document.activeElement);
    hold(row, true);
    var f = byId("board-feedback");
    f.className = "feedback";
    f.textContent = elt.getAttribute("data-what") + " — " + elt.getAttribute("data-ticket") + " in " +
      undoMs / 1000 + " s. ";
    var undo = document.createElement("button");
    undo.type = "button";
    undo.textContent = "Undo";
    undo.setAttribute("data-undo", row.id);
    f.appendChild(undo);
    if (keyboard) undo.focus(); // the row has gone inert: Enter now undoes
  });

  // Takes the row's held move out of `held` (and its timer off); answers it, or nothing.
  function release(rowId) {
    var h = held.get(rowId);
    if (h) { held.delete(rowId); window.clearTimeout(h.timer); }
    return h;
  }

  function unhold(rowId) {
    var row = byId(rowId);
    if (row) hold(row, false);
    return row;
  }

  function send(rowId) {
    var h = release(rowId);
    if (!h) return;
    function failed(answer) { unhold(rowId); say(failure(h.elt, answer), "error"); }
    window.lobbyline.csrfFetch(h.url, { method: "POST", keepalive: true, body: "{}",
      headers: { "Content-Type": "application/json" } })
      .then(function (r) {
        return r.text().then(function (text) {
          var answer = { status: r.status, responseText: text };
          if (r.ok) say(success(h.elt, answer), "ok");
          else failed(answer);
        });
      }, function () { failed({ status: 0, responseText: "" }); });
  }

  document.addEventListener("click", function (evt) {
    var undo = evt.target.closest("[data-undo]");
    var h = undo && release(undo.getAttribute("data-undo"));
    if (!h) return;
    var row = unhold(undo.getAttribute("data-undo"));
    if (row) row.focus();
    say("Undone: nothing was sent for " + h.elt.getAttribute("data-ticket") + ".", "ok");
  });
  window.addEventListener("pagehide", function () { Array.from(held.keys()).forEach(send); });

  // Listen on the request itself: a frame may replace the button that sent it before the
  // answer comes, and events on a detached element never reach the document.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    var xhr = evt.detail.xhr;
    if (!elt || !xhr || !app.contains(elt)) return;
    xhr.addEventListener("loadend", function () {
      if (xhr.status >= 200 && xhr.status < 300) {
        say(success(elt, xhr), "ok");
        if (elt.hasAttribute("data-reset") && elt.reset) elt.reset();
      } else if (xhr.status !== 0) {
        say(failure(elt, xhr), "error");
      }
    });
  });
  document.addEventListener("htmx:sendError", function () {
    say("The server did not answer; check the connection and try again.", "error");
  });
  document.addEventListener("htmx:validation:halted", function () {
    say("Fill in the highlighted field first.", "error");
  });

  // ---- "More": a small non-modal dialog. One open at a time; Escape or a click outside
  // closes it (Escape puts the focus back on its button); it opens upwards, or scrolls
  // inside itself, rather than run past the window's edge.
  function openMores() { return Array.from(document.querySelectorAll("details.more[open]")); }
  function closeMore(d, refocus) {
    d.open = false;
    if (refocus) d.querySelector("summary").focus();
  }
  function fitMore(d) {
    var panel = d.querySelector(".more-panel");
    if (!panel) return;
    panel.classList.remove("more-panel--up", "more-panel--left");
    panel.style.maxHeight = "";
    var margin = 8;
    var button = d.querySelector("summary").getBoundingClientRect();
    var rect = panel.getBoundingClientRect();
    var below = window.innerHeight - button.bottom - margin;
    var above = button.top - margin;
    if (rect.height > below && above > below) panel.classList.add("more-panel--up");
    var room = panel.classList.contains("more-panel--up") ? above : below;
    if (rect.height > room) panel.style.maxHeight = Math.max(120, room) + "px";
    if (panel.getBoundingClientRect().left < margin) panel.classList.add("more-panel--left");
  }
  document.addEventListener("toggle", function (evt) {
    var d = evt.target;
    if (!d.matches || !d.matches("details.more") || !d.open) return;
    openMores().forEach(function (other) { if (other !== d) other.open = false; });
    fitMore(d);
  }, true);
  window.addEventListener("resize", function () { openMores().forEach(fitMore); });
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") return;
    var open = openMores();
    if (!open.length) return;
    evt.preventDefault();
    evt.stopImmediatePropagation();
    open.forEach(function (d) { closeMore(d, d.contains(document.activeElement) || open.length === 1); });
  }, true);
  document.addEventListener("click", function (evt) {
    openMores().forEach(function (d) { if (!d.contains(evt.target)) closeMore(d, false); });
  }, true);

  document.addEventListener("click", function (evt) {
    var chip = evt.target.closest("[data-open-more]");
    if (chip) {
      var more = byId(chip.getAttribute("data-open-more"));
      if (more) { more.open = true; var input = more.querySelector("input[name=amount]"); if (input) input.focus(); }
    }
  });

  // ---- Keyboard shortcuts (documented in the "?" dialog).
  var help = byId("board-help");
  byId("help-open").addEventListener("click", function () { help.showModal(); });

  function visibleRows() {
    return Array.from(document.querySelectorAll("tr.visit")).filter(function (r) { return !r.hidden && r.offsetParent; });
  }
  function currentRow() {
    var a = document.activeElement;
    return a && a.closest ? a.closest("tr.visit") : null;
  }
  function press(row, selector) {
    var b = row && row.querySelector(selector);
    if (b) b.click();
    else if (row) say("That action is not available for " + row.getAttribute("data-ticket") + " now.", "error");
  }

  document.addEventListener("keydown", function (evt) {
    if (evt.ctrlKey || evt.metaKey || evt.altKey || help.open) return;
    var tag = evt.target.tagName;
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(tag)) {
      if (evt.key === "Escape" && evt.target.id === "board-search") { evt.target.value = ""; refresh(); }
      return;
    }
    if (!byId("keys-on").checked) return;
    var row = currentRow();
    var k = evt.key;
    if (k === "/") { evt.preventDefault(); byId("board-search").focus(); return; }
    if (k === "?") { evt.preventDefault(); help.showModal(); return; }
    if (k === "w") { evt.preventDefault(); document.querySelector("#checkin-form input[name=name]").focus(); return; }
    if (k === "ArrowDown" || k === "ArrowUp" || k === "j" || k === "k") {
      var rows = visibleRows();
      if (!rows.length) return;
      evt.preventDefault();
      var i = rows.indexOf(row);
      var next = k === "ArrowDown" || k === "j" ? rows[Math.min(rows.length - 1, i + 1)] : rows[Math.max(0, i - 1)];
      next.focus();
      return;
    }
    if (/^[1-9]$/.test(k)) {
      var buttons = Array.from(document.querySelectorAll("section.board-queue:not([hidden]) .act--next"));
      if (buttons[Number(k) - 1]) { evt.preventDefault(); buttons[Number(k) - 1].click(); }
      return;
    }
    if (!row || (evt.target !== row && k === "Enter")) return;
    if (k === "Enter" || k === "c") { evt.preventDefault(); press(row, ".act--call"); }
    else if (k === "d") press(row, ".act--done");
    else if (k === "n") press(row, ".act--no-show");
    else if (k === "r") press(row, ".act--recall");
    else if (k === "o") press(row, ".act--checkout");
    else if (k === "m") { var d = row.querySelector("details"); if (d) { d.open = !d.open; if (d.open) d.querySelector("summary").focus(); } }
  });

  refresh();
  setInterval(tick, 1000);
})();
