// The lobby display's behaviour beyond what htmx swaps in: the announcements (a bundled
// chime, then the server-built sentences through the browser's speechSynthesis), the
// queue filter, the new-call highlight, the link indicator, the site's clock, the
// broadcast line's expiry and the paging of long queues. Everything is local: no online
// speech service, and nothing here grows with the number of calls (docs/lobby.md).
(function () {
  "use strict";

  var HIGHLIGHT_MS = 10000;
  var RECENT_MS = 30 * 60000;
  var RECENT_SHOWN = 5;                // at most; fewer when the panel holds fewer
  var RECALL_WINDOW_MS = 3 * 3600000; // a ticket called again within this is a second call
  var QUEUE_MAX = 6;                  // announcements waiting; older ones are dropped
  var REPEAT_UNTIL = 2;               // with more than this waiting, no repeats
  var UTTERANCE_MAX_MS = 10000;       // give up on an utterance that never ends
  var LINK_GRACE_MS = 3000;           // a quick reconnect shows nothing
  var LINK_PAUSED_MS = 120000;
  var PAGE_MS = 8000;
  var KEPT = 300;                     // bound of every remembered set
  var LOG_KEPT = 100;

  var hook = window.lobbyline = window.lobbyline || {};
  hook.audioLog = [];

  var only = [];          // queue ids this display shows; empty: all
  var seen = new Map();   // call key -> true: calls already announced or on screen at start
  var lastCalled = new Map(); // ticket -> called ms, for "second call"
  var newUntil = new Map();   // call key -> ms until which it is highlighted
  var pending = [];
  var speaking = false;
  var sound = { locked: false, muted: false, volume: 1 };
  var link = { open: false, since: Date.now() };
  var page = 0;
  var voices = [];

  function log(entry) {
    hook.audioLog.push(entry);
    if (hook.audioLog.length > LOG_KEPT) hook.audioLog.splice(0, hook.audioLog.length - LOG_KEPT);
  }

  function remember(map, key, value) {
    map.delete(key);
    map.set(key, value);
    while (map.size > KEPT) map.delete(map.keys().next().value);
  }

  function shows(el) {
    return only.length === 0 || only.indexOf(el.getAttribute("data-queue")) >= 0;
  }

  function calledMs(el) { return Number(el.getAttribute("data-called-ms")) || 0; }

  // A patient roomed without a call holds the Now-calling panel a while, then leaves it
  // for Recent calls (the server says until when).
  function heldOut(el, now) {
    var until = Number(el.getAttribute("data-until-ms")) || 0;
    return until > 0 && until <= now;
  }

  // Which of the pushed calls this display shows: every display of a site is sent the same
  // fragment, so a display limited to some queues picks its own hero and recent rows.
  function arrange() {
    var section = document.getElementById("calling");
    if (!section) return null;
    var hero = null;
    var now = Date.now();
    section.querySelectorAll(".hero-call").forEach(function (el) {
      var mine = shows(el) && hero === null && !heldOut(el, now);
      if (mine) hero = el;
      el.hidden = !mine;
    });
    var calm = section.querySelector(".hero .calm");
    if (calm) calm.hidden = hero !== null;
    if (hero) {  // a call just shown was hidden when the text was last fitted
      fit(hero.querySelector(".ticket"), TICKET_FLOOR, tooWide);
      fit(hero.querySelector(".where"), ROOM_FLOOR, tooWide);
    }
    var heroKey = hero && hero.getAttribute("data-call");
    var shown = 0;
    section.querySelectorAll(".recent-calls tbody tr").forEach(function (row) {
      var ok = shows(row) && row.getAttribute("data-call") !== heroKey &&
        now - calledMs(row) < RECENT_MS && shown < RECENT_SHOWN;
      if (ok) shown += 1;
      row.hidden = !ok;
    });
    // At the size a patient reads from across the room only three or four rows fit: the
    // newest ones stay, and a row that would be cut by the panel's edge is not shown.
    var panel = section.querySelector(".recent");
    if (panel) {
      var bottom = panel.getBoundingClientRect().bottom + 1;
      section.querySelectorAll(".recent-calls tbody tr").forEach(function (row) {
        if (row.hidden) return;
        if (row.getBoundingClientRect().bottom > bottom) { row.hidden = true; shown -= 1; }
      });
    }
    var none = section.querySelector(".recent-none");
    if (none) none.hidden = shown > 0;
    var box = section.querySelector(".hero");
    if (box) box.classList.toggle("is-new", !!heroKey && (newUntil.get(heroKey) || 0) > now);
    return section;
  }

  function candidates(section) {
    return Array.prototype.filter.call(section.querySelectorAll(".hero-call"), shows)
      .sort(function (a, b) { return calledMs(a) - calledMs(b); });
  }

  // Calls on the screen when it starts were made before anyone was listening: remember
  // them silently. Every call after that is announced, the first one included.
  function start() {
    var section = arrange();
    if (!section) return;
    candidates(section).forEach(function (el) {
      remember(seen, el.getAttribute("data-call"), true);
      remember(lastCalled, el.getAttribute("data-ticket"), calledMs(el));
    });
  }

  function update() {
    var section = document.getElementById("calling");
    if (!section) return;
    var now = Date.now();
    candidates(section).forEach(function (el) {
      var key = el.getAttribute("data-call");
      if (seen.has(key) || heldOut(el, now)) return;
      remember(seen, key, true);
      var ticket = el.getAttribute("data-ticket");
      var before = lastCalled.get(ticket);
      var ms = calledMs(el);
      remember(lastCalled, ticket, ms);
      remember(newUntil, key, now + HIGHLIGHT_MS);
      window.setTimeout(arrange, HIGHLIGHT_MS + 50);
      var says = [];
      try { says = JSON.parse(el.getAttribute("data-say") || "[]"); } catch (e) { says = []; }
      // A rooming after a call to a desk is a new place to go, not a second call.
      var room = el.getAttribute("data-kind") === "room";
      enqueue({ says: says, recall: !room && before !== undefined && before !== ms &&
                ms - before < RECALL_WINDOW_MS });
    });
    arrange();
  }

  // Sound, one call at a time: chime, a pause, the sentence in each language, and once
  // more after a pause while the line is short.
  function enqueue(item) {
    if (sound.locked || sound.muted) return; // nobody would hear it: no backlog either
    pending.push(item);
    if (pending.length > QUEUE_MAX) pending.splice(0, pending.length - QUEUE_MAX);
    if (!speaking) next();
  }

  function later(ms) { return new Promise(function (done) { window.setTimeout(done, ms); }); }

  function chime() {
    var audio = document.getElementById("chime");
    if (!audio || typeof audio.play !== "function") return later(0);
    audio.volume = sound.volume;
    try { audio.currentTime = 0; } catch (e) { /* not loaded yet */ }
    var played;
    try { played = audio.play(); } catch (e) { played = Promise.reject(e); }
    return Promise.resolve(played).then(function () {
      log({ kind: "chime", text: null, lang: null });
      return later(1500);
    }, function (err) {
      if (err && err.name === "NotAllowedError") lock();
      return later(0);
    });
  }

  function voiceFor(lang) {
    for (var i = 0; i < voices.length; i++) {
      if ((voices[i].lang || "").toLowerCase().indexOf(lang) === 0) return voices[i];
    }
    return null;
  }

  function say(text, lang) {
    if (!("speechSynthesis" in window) || sound.locked || sound.muted) return later(0);
    return new Promise(function (done) {
      var finished = false;
      function end() { if (!finished) { finished = true; done(); } }
      var u = new SpeechSynthesisUtterance(text);
      u.lang = lang;
      u.rate = 0.9;
      u.volume = sound.volume;
      var voice = voiceFor(lang);
      if (voice) u.voice = voice;
      u.onend = end;
      u.onerror = end;
      window.setTimeout(end, UTTERANCE_MAX_MS);
      log({ kind: "speech", text: text, lang: lang });
      window.speechSynthesis.speak(u);
    });
  }

  function sayAll(item) {
    return item.says.reduce(function (chain, s, i) {
      return chain.then(function () { return i ? later(800) : null; })
        .then(function () { return say(item.recall ? s.recall : s.text, s.lang); });
    }, Promise.resolve());
  }

  function next() {
    var item = pending.shift();
    if (!item) { speaking = false; return; }
    speaking = true;
    chime().then(function () { return sayAll(item); }).then(function () {
      if (pending.length > REPEAT_UNTIL) return null;
      return later(2000).then(function () { return sayAll(item); });
    }).then(function () { return later(500); }, function () { return null; }).then(next);
  }

  function lock() {
    sound.locked = true;
    pending.length = 0;
    paintSound();
  }

  function unlock() {
    sound.locked = false;
    var audio = document.getElementById("chime");
    if (audio) {
      // Playing once inside the click is what lets later calls sound without one.
      audio.muted = true;
      Promise.resolve(audio.play()).then(function () {
        audio.pause(); audio.muted = false; audio.currentTime = 0;
      }, function () { audio.muted = false; });
    }
    if ("speechSynthesis" in window) {
      var u = new SpeechSynthesisUtterance(" ");
      u.volume = 0;
      window.speechSynthesis.speak(u);
    }
    paintSound();
  }

  function paintSound() {
    var state = sound.locked ? "locked" : sound.muted ? "muted" : "on";
    document.body.setAttribute("data-sound", state);
    var enable = document.getElementById("sound-enable");
    if (enable) enable.hidden = !sound.locked;
    var mute = document.getElementById("sound-mute");
    if (mute) {
      mute.setAttribute("aria-pressed", String(sound.muted));
      mute.setAttribute("aria-label", sound.muted ? "Unmute announcements" : "Mute announcements");
    }
    var volume = document.getElementById("sound-volume");
    if (volume) volume.value = String(sound.volume);
  }

  function stored(key, fallback) {
    try { var v = window.localStorage.getItem("lobbyline." + key); return v === null ? fallback : v; }
    catch (e) { return fallback; }
  }

  function store(key, value) {
    try { window.localStorage.setItem("lobbyline." + key, String(value)); } catch (e) { /* private mode */ }
  }

  function setUpSound() {
    sound.muted = stored("muted", "false") === "true";
    var v = Number(stored("volume", "1"));
    sound.volume = isNaN(v) ? 1 : Math.min(1, Math.max(0, v));
    // Without a click (or Chromium's --autoplay-policy=no-user-gesture-required) the
    // browser starts audio suspended: ask for the one tap the screen needs.
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) {
        var probe = new Ctx();
        sound.locked = probe.state !== "running";
        if (probe.close) probe.close();
      }
    } catch (e) { sound.locked = false; }
    var enable = document.getElementById("sound-enable");
    if (enable) enable.addEventListener("click", unlock);
    var mute = document.getElementById("sound-mute");
    if (mute) mute.addEventListener("click", function () {
      sound.muted = !sound.muted;
      store("muted", sound.muted);
      if (sound.muted) { pending.length = 0; if ("speechSynthesis" in window) window.speechSynthesis.cancel(); }
      paintSound();
    });
    var volume = document.getElementById("sound-volume");
    if (volume) volume.addEventListener("change", function () {
      sound.volume = Number(volume.value);
      store("volume", sound.volume);
    });
    if ("speechSynthesis" in window) {
      var load = function () { voices = window.speechSynthesis.getVoices() || []; };
      load();
      window.speechSynthesis.addEventListener("voiceschanged", load);
    }
    paintSound();
  }

  // The socket is the heartbeat: open is live; closed for a moment shows "Reconnecting";
  // closed for two minutes asks people to check at the desk. The last state stays shown.
  function paintLink() {
    var el = document.getElementById("link-status");
    if (!el) return;
    var down = Date.now() - link.since;
    var state = link.open || down < LINK_GRACE_MS ? "live" : down < LINK_PAUSED_MS ? "reconnecting" : "paused";
    if (el.getAttribute("data-state") === state) return;
    el.setAttribute("data-state", state);
    el.querySelector(".link-text").textContent = state === "live" ? "" :
      state === "reconnecting" ? "Reconnecting…" : "Updates paused — please ask at the front desk";
  }

  function tickClock() {
    document.querySelectorAll("[data-site-clock]").forEach(function (el) {
      try {
        el.textContent = new Intl.DateTimeFormat(el.getAttribute("data-lang") || "en", {
          hour: "numeric", minute: "2-digit", timeZone: el.getAttribute("data-tz") || undefined,
          hourCycle: el.getAttribute("data-hour12") === "no" ? "h23" : "h12"
        }).format(new Date());
      } catch (e) {
        el.textContent = new Date().toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
      }
    });
  }

  // Text that must be seen whole (the broadcast line, the called ticket and room, the
  // recent calls' rooms) is set smaller, step by step down to a floor (in rem), until it
  // fits its box, instead of being cut: on a 5:4 screen the columns are narrower for the
  // same height. `cut` says whether the text is cut; by default `el`'s own overflow. The
  // called ticket and room are one line each at line-height 1, whose glyphs reach past
  // their line box (not a cut): only their width counts.
  var TICKET_FLOOR = 12, ROOM_FLOOR = 7;
  var FITTED = [[".broadcast p", 3.6], [".hero-call .ticket", TICKET_FLOOR, tooWide],
                [".hero-call .where", ROOM_FLOOR, tooWide], [".hero .label", 3.2]];

  function overflows(el) {
    return el.scrollHeight > el.clientHeight + 1 || tooWide(el);
  }

  function tooWide(el) {
    return el.scrollWidth > el.clientWidth + 1;
  }

  function fit(el, floor, cut) {
    var rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 10;
    if (!el) return;
    el.style.fontSize = "";
    if (el.hidden || el.offsetParent === null) return;
    var size = parseFloat(getComputedStyle(el).fontSize);
    while ((cut || overflows)(el) && size > floor * rem) {
      size = Math.max(floor * rem, size * 0.92);
      el.style.fontSize = size + "px";
    }
  }

  function fitText() {
    FITTED.forEach(function (pair) {
      document.querySelectorAll(pair[0]).forEach(function (el) { fit(el, pair[1], pair[2]); });
    });
    // The call's label, at its floor and still too wide (a 5:4 screen), takes two lines:
    // "Now calling" above "· Llamando", rather than losing the second language.
    document.querySelectorAll(".hero .label").forEach(function (el) {
      el.classList.remove("wraps");
      if (tooWide(el)) el.classList.add("wraps");
    });
    // The recent calls shrink together, until no shown row's room is cut short.
    document.querySelectorAll(".recent-calls").forEach(function (table) {
      fit(table, 6, function () {
        return Array.prototype.some.call(table.querySelectorAll("tr:not([hidden]) .where"),
                                         tooWide);
      });
    });
  }

  function expireMessage() {
    var band = document.getElementById("broadcast");
    if (!band) return;
    var until = Number(band.getAttribute("data-expires-ms")) || 0;
    var text = band.querySelector("p");
    if (text) {
      var gone = until <= Date.now();
      if (text.hidden !== gone) { text.hidden = gone; arrange(); }
    }
  }

  // A queue's heading keeps to its column: wrapped, it left a 5:4 screen's column no room
  // for a ticket. Where "7 waiting · page 1/4" is too wide the page count is shortened
  // ("7 waiting · 1/4"), then the count and the queue's name are set smaller, down to
  // HEADING_FLOOR (rem), like the other fitted text.
  var HEADING_FLOOR = 3.6;

  function fitHeading(queue, pageOf) {
    var count = queue.querySelector(".count");
    var label = queue.querySelector(".count .pages");
    if (label) label.textContent = pageOf ? " · page " + pageOf : "";
    if (count && label && pageOf) {
      count.style.fontSize = "";
      if (tooWide(count)) label.textContent = " · " + pageOf;
    }
    fit(count, HEADING_FLOOR, tooWide);
    fit(queue.querySelector(".qname"), HEADING_FLOOR, tooWide);
  }

  function ticketsThatFit(list) {
    var n = 0;
    list.querySelectorAll("li").forEach(function (li) {
      if (li.offsetTop + li.offsetHeight <= list.clientHeight + 1) n += 1;
    });
    return n;
  }

  // A queue longer than its column shows it a page at a time, turning every few seconds,
  // and says which page it is on.
  function showPages() {
    document.querySelectorAll(".queue").forEach(function (queue) {
      var list = queue.querySelector(".tickets");
      if (!list) { fitHeading(queue, ""); return; }
      var items = list.querySelectorAll("li");
      items.forEach(function (li) { li.hidden = false; });
      var pages = 1, shown = 0;
      // Twice: the heading's size, fitted to its page count, changes the room left.
      for (var pass = 0; pass < 2; pass++) {
        shown = ticketsThatFit(list);
        pages = shown === 0 ? 1 : Math.ceil(items.length / shown);
        fitHeading(queue, pages < 2 ? "" : (page % pages + 1) + "/" + pages);
      }
      if (pages < 2) return;
      var first = (page % pages) * shown;
      items.forEach(function (li, i) { li.hidden = i < first || i >= first + shown; });
    });
  }

  function turnPages() {
    page += 1;
    showPages();
  }

  function everySecond() {
    paintLink();
    expireMessage();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var main = document.querySelector(".lobby-main");
    var wanted = main ? main.getAttribute("data-queues") || "" : "";
    only = wanted.split(",").filter(function (q) { return q; });
    setUpSound();
    start();
    tickClock();
    expireMessage();
    fitText();
    arrange();
    showPages();
    window.addEventListener("resize", function () { fitText(); arrange(); showPages(); });
    window.setInterval(everySecond, 1000);
    window.setInterval(tickClock, 5000);
    window.setInterval(turnPages, PAGE_MS);
    window.setInterval(arrange, 5000); // room calls leave the hero, recent calls age out
  });
  document.addEventListener("htmx:wsOpen", function () { link.open = true; paintLink(); });
  document.addEventListener("htmx:wsClose", function () {
    if (link.open) link.since = Date.now();
    link.open = false;
    paintLink();
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    expireMessage();
    fitText();
    update();
    showPages();
  });
})();
