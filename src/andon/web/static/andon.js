// Andon UI behaviour that htmx does not cover: the signature dialog and SLA countdowns.
// No inline handlers (the pages' CSP allows scripts from /ui/static only).
(function () {
  "use strict";

  function span(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + m + " min";
    if (m) return m + " min";
    return (s % 60) + " s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-due]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-due")) - now) / 1000;
      el.textContent = left < 0 ? "overdue by " + span(-left) : "due in " + span(left);
    });
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-sign]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-sign"));
      if (!dialog) return;
      var outcome = opener.getAttribute("data-outcome");
      dialog.querySelector("[data-outcome-input]").value = outcome;
      dialog.querySelectorAll("[data-outcome-label]").forEach(function (el) { el.textContent = outcome; });
      var error = dialog.querySelector("[id$='-sign-error']");
      if (error) error.textContent = "";
      dialog.showModal();
      var password = dialog.querySelector("input[type=password]");
      if (password) { password.value = ""; password.focus(); }
      return;
    }
    var closer = event.target.closest("[data-close]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) open.close();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 30000);
  });
  document.addEventListener("htmx:afterSettle", tick);
})();
