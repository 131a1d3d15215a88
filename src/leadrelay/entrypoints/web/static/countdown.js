// Live SLA countdowns: every <time data-countdown datetime="ISO"> says how long is left ("in 1 h 5 min") or how
// late it is ("overdue by 12 min"), updated every 20 seconds. Without this script the page shows the deadline
// itself, so nothing depends on it.
(function () {
  function span(ms) {
    var minutes = Math.round(Math.abs(ms) / 60000);
    if (minutes < 60) return minutes + " min";
    var hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + (minutes % 60) + " min";
    return Math.floor(hours / 24) + " days";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var left = Date.parse(el.getAttribute("datetime")) - now;
      el.textContent = left >= 0 ? "in " + span(left) : "overdue by " + span(left);
      el.classList.toggle("overdue", left < 0);
      el.title = el.getAttribute("datetime");
    });
  }
  tick();
  setInterval(tick, 20000);
})();
