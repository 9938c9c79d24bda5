// The lobby's announcement: a chime and the spoken ticket when a new call appears.
// Everything is local (Web Audio and the browser's speechSynthesis): no online service.
(function () {
  "use strict";
  var announced = null;   // called-ms of the newest call already announced
  var audio = null;

  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [660, 880].forEach(function (freq, i) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        var start = audio.currentTime + i * 0.35;
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, start);
        gain.gain.exponentialRampToValueAtTime(0.4, start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.6);
        osc.connect(gain).connect(audio.destination);
        osc.start(start);
        osc.stop(start + 0.65);
      });
    } catch (e) { /* no audio device: the screen still shows the call */ }
  }

  function speakable(ticket) {
    // "A042" -> "A, 0, 4, 2": letters and digits one by one, as a person reads a ticket.
    return ticket.split("").join(", ");
  }

  function announce(call) {
    chime();
    if (!("speechSynthesis" in window)) return;
    var room = call.getAttribute("data-room") || "the front desk";
    var text = "Ticket " + speakable(call.getAttribute("data-ticket")) + ", please go to " + room + ".";
    window.setTimeout(function () {
      window.speechSynthesis.speak(new SpeechSynthesisUtterance(text));
    }, 800);
  }

  function check(first) {
    var latest = document.querySelector("#calling .call--latest");
    if (!latest) return;
    var ms = Number(latest.getAttribute("data-called-ms"));
    if (announced !== null && ms > announced && !first) announce(latest);
    if (announced === null || ms > announced) announced = ms;
    document.body.setAttribute("data-announced", String(announced));
  }

  document.addEventListener("DOMContentLoaded", function () { check(true); });
  document.addEventListener("htmx:wsAfterMessage", function () { check(false); });
})();
