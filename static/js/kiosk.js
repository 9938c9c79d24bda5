// The kiosk page: on-screen keys, the scanner's field, the idle reset, read-aloud, the
// ticket's print button, and what the screen does when the server cannot be reached.
// Every step itself is an htmx POST whose answer replaces #kiosk-screen.
(function () {
  "use strict";

  const app = document.getElementById("kiosk");
  if (!app) return;
  const seconds = (name) => Number(app.dataset[name]) * 1000;
  const IDLE = seconds("idleSeconds");
  const WARNING = seconds("warningSeconds");
  const TICKET = seconds("ticketSeconds");
  const PING_MS = 3000;

  let reading = false;
  let offline = false;
  let idleTimer = null;
  let countdown = null;
  let pingTimer = null;
  let lastTarget = {};

  const screen = () => document.querySelector("#kiosk-screen .kstep");
  const step = () => (screen() ? screen().dataset.step : "");

  function reset() {
    stopTimers();
    htmx.ajax("POST", app.dataset.resetUrl, { target: "#kiosk-screen", swap: "innerHTML" });
  }

  // Languages: fragments from the socket carry every language; show the screen's.
  function showLanguage(root) {
    const lang = screen() ? screen().dataset.lang : "en";
    document.documentElement.lang = lang;
    (root || document).querySelectorAll("[data-l10n]").forEach((el) => {
      el.hidden = el.lang !== lang;
    });
  }

  // Focus: the scanner's field where there is one, else the screen's heading.
  function focusScreen() {
    const s = screen();
    if (!s) return;
    const target = s.querySelector("[data-autofocus]") || s.querySelector("#kiosk-scan") ||
      s.querySelector("#kiosk-title");
    if (target) target.focus({ preventScroll: true });
  }

  // A live update (the waits, the choice of service) replaces the buttons under the
  // patient's focus: put it back on the same choice, so that a keyboard or screen-reader
  // user stays where they were; if that choice is gone, on the screen's heading.
  let refocus = null;
  let restoring = false; // the focus comes back: nothing to read out
  document.body.addEventListener("htmx:oobBeforeSwap", (event) => {
    const active = document.activeElement;
    if (active && active !== document.body && event.detail.target.contains(active)) {
      refocus = { box: event.detail.target.id, vals: active.getAttribute("hx-vals") };
    }
  });
  // After the whole message is swapped and its languages shown (a fragment carries every
  // language, so the same choice is there once per language: take the one shown).
  document.body.addEventListener("htmx:wsAfterMessage", () => {
    if (!refocus) return;
    const box = document.getElementById(refocus.box);
    const same = box && Array.from(box.querySelectorAll("[hx-vals]")).find((el) =>
      el.getAttribute("hx-vals") === refocus.vals && !el.closest("[hidden]"));
    refocus = null;
    restoring = true;
    if (same) same.focus({ preventScroll: true });
    else focusScreen();
    restoring = false;
  });

  // A scan field keeps the focus unless the person moves it somewhere on purpose.
  document.addEventListener("focusout", (event) => {
    if (!event.target.matches("[data-scanner]") || event.relatedTarget) return;
    setTimeout(() => {
      if (document.activeElement === document.body && document.contains(event.target)) {
        event.target.focus({ preventScroll: true });
      }
    }, 0);
  });

  // A scanner is a keyboard that types the code and presses Enter. On a screen with a scan
  // field, a letter or digit typed while the focus is on something that takes no text (a
  // button, the page) goes into that field, so a scan works wherever the focus was left.
  document.addEventListener("keydown", (event) => {
    const field = screen() && screen().querySelector("[data-scanner]");
    const target = document.activeElement;
    if (!field || target === field || event.ctrlKey || event.altKey || event.metaKey) return;
    if (target && (target.isContentEditable || target.matches("input, textarea, select"))) return;
    if (event.key.length === 1 && /[A-Za-z0-9]/.test(event.key)) {
      field.focus({ preventScroll: true }); // this key's character now lands in the field
    }
  }, true);

  // On-screen keys type into the field they serve (the last one of them with focus).
  document.addEventListener("focusin", (event) => {
    const el = event.target;
    if (el.matches("input[id]")) {
      document.querySelectorAll("[data-keys-for]").forEach((keys) => {
        if (keys.dataset.keysFor.split(" ").includes(el.id)) lastTarget[keys.dataset.keysFor] = el.id;
      });
    }
    if (reading && !restoring) speak([labelOf(el)]);
  });

  document.addEventListener("click", (event) => {
    const key = event.target.closest("[data-key]");
    if (key) return typeKey(key, event.detail > 0);
    if (event.target.closest("#kiosk-read-aloud")) return toggleReading();
    if (event.target.closest("[data-print]")) return window.print();
    if (event.target.closest("[data-more-time]")) return moreTime();
    if (event.target.closest("[data-reset]")) return reset();
  });

  function typeKey(key, byTouch) {
    const group = key.closest("[data-keys-for]").dataset.keysFor;
    const ids = group.split(" ");
    let input = document.getElementById(lastTarget[group] || ids[0]);
    if (!input) return;
    const value = key.dataset.key;
    if (value === "backspace") {
      input.value = input.value.slice(0, -1);
    } else {
      const max = Number(input.getAttribute("maxlength")) || 100;
      if (input.value.length >= max && input.dataset.next) {
        input = document.getElementById(input.dataset.next);
        lastTarget[group] = input.id;
      }
      if (input.value.length < (Number(input.getAttribute("maxlength")) || 100)) {
        input.value += value;
      }
      if (input.dataset.next && input.value.length >= Number(input.getAttribute("maxlength"))) {
        lastTarget[group] = input.dataset.next;
      }
    }
    input.dispatchEvent(new Event("input", { bubbles: true }));
    if (reading) speak([value === "backspace" ? key.textContent : value]);
    // A tap returns the focus to the field (the scanner's, too); a keyboard user keeps it.
    if (byTouch) document.getElementById(lastTarget[group] || input.id).focus({ preventScroll: true });
  }

  // Idle: after IDLE without a touch, "Need more time?" counts down WARNING, then the
  // kiosk starts over. A ticket starts over after TICKET. The welcome screen never does.
  function stopTimers() {
    clearTimeout(idleTimer);
    clearInterval(countdown);
    idleTimer = countdown = null;
  }

  function schedule() {
    stopTimers();
    const s = screen();
    if (!s || offline) return;
    const mode = s.dataset.idle;
    if (mode === "ticket") idleTimer = setTimeout(reset, TICKET);
    else if (mode === "on") idleTimer = setTimeout(warn, IDLE);
  }

  function warn() {
    const panel = document.getElementById("kiosk-idle");
    if (!panel) return reset();
    let left = WARNING / 1000;
    const shown = panel.querySelector("[data-countdown]");
    shown.textContent = left;
    panel.hidden = false;
    panel.querySelector("[data-more-time]").focus({ preventScroll: true });
    if (reading) speak([...panel.querySelectorAll("[data-speak-idle]")].map((el) => el.textContent));
    countdown = setInterval(() => {
      left -= 1;
      shown.textContent = Math.max(left, 0);
      if (left <= 0) reset();
    }, 1000);
  }

  function moreTime() {
    const panel = document.getElementById("kiosk-idle");
    if (panel) panel.hidden = true;
    focusScreen();
    schedule();
  }

  for (const type of ["pointerdown", "keydown", "input"]) {
    document.addEventListener(type, () => {
      const panel = document.getElementById("kiosk-idle");
      if (!panel || panel.hidden) schedule();
    }, true);
  }

  // Read aloud: the browser's own speech, in the screen's language.
  function clean(text) {
    return (text || "").replace(/\s+/g, " ").trim();
  }

  function labelOf(el) {
    if (!el || el === document.body) return "";
    if (el.labels && el.labels.length) return clean(el.labels[0].textContent);
    return clean(el.getAttribute("aria-label") || el.textContent);
  }

  function screenText() {
    const s = screen();
    if (!s) return [];
    return [...s.querySelectorAll("[data-speak]")].filter((el) => !el.closest("[hidden]"))
      .map((el) => (el.dataset.spell ? el.dataset.spell.split("").join(" ") : clean(el.textContent)));
  }

  function speak(texts) {
    const synth = window.speechSynthesis;
    if (!synth) return;
    synth.cancel();
    const lang = document.documentElement.lang;
    const voice = synth.getVoices().find((v) => v.lang && v.lang.toLowerCase().startsWith(lang));
    for (const text of texts.filter(Boolean)) {
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = lang;
      utterance.rate = 0.9;
      if (voice) utterance.voice = voice;
      synth.speak(utterance);
    }
  }

  function showReading() {
    const button = document.getElementById("kiosk-read-aloud");
    if (button) button.setAttribute("aria-pressed", reading ? "true" : "false");
  }

  function toggleReading() {
    reading = !reading;
    showReading();
    if (reading) speak(screenText());
    else if (window.speechSynthesis) window.speechSynthesis.cancel();
  }

  // No server: "please see the front desk" until it answers again, then start over.
  function goOffline() {
    const panel = document.getElementById("kiosk-offline");
    if (panel) panel.hidden = false;
    if (offline) return;
    offline = true;
    stopTimers();
    pingTimer = setInterval(ping, PING_MS);
  }

  async function ping() {
    try {
      const answer = await fetch(app.dataset.pingUrl, { cache: "no-store" });
      if (!answer.ok) return goOffline();
      if (offline) {
        offline = false;
        clearInterval(pingTimer);
        pingTimer = null;
        reset();
      }
    } catch (error) {
      goOffline();
    }
  }

  // htmx takes over a new screen's forms when it settles (at once here: the page's
  // htmx-config sets no settle delay). A form it has not taken over must never submit
  // the browser's way, which would put what the patient typed into the address bar.
  document.addEventListener("submit", (event) => {
    if (!event.defaultPrevented) event.preventDefault();
  });

  document.body.addEventListener("htmx:sendError", goOffline);
  document.body.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    if (status === 401 || status === 403) window.location.reload(); // unpaired: /pair
    else goOffline();
  });
  document.body.addEventListener("htmx:wsClose", () => setTimeout(ping, 1000));

  // After every new screen: its language, its focus, its timers, its speech.
  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.detail.target && event.detail.target.id !== "kiosk-screen") return;
    const s = screen();
    if (s && s.dataset.fresh === "true") {
      reading = false;
      lastTarget = {};
      if (window.speechSynthesis) window.speechSynthesis.cancel();
    }
    if (offline) document.getElementById("kiosk-offline").hidden = false;
    showLanguage();
    showReading();
    focusScreen();
    schedule();
    if (reading) speak(screenText());
  });
  document.body.addEventListener("htmx:load", (event) => showLanguage(event.detail.elt));

  // A look-up the server holds back (a kiosk with many failed look-ups slows down) says
  // "One moment…" once it has taken longer than a tap should.
  let waiting = null;
  document.body.addEventListener("htmx:beforeRequest", () => {
    clearTimeout(waiting);
    waiting = setTimeout(() => {
      const note = document.querySelector("#kiosk-screen [data-wait]");
      if (note) note.hidden = false;
    }, 700);
  });
  document.body.addEventListener("htmx:afterRequest", () => clearTimeout(waiting));

  showLanguage();
  focusScreen();
  schedule();
})();
