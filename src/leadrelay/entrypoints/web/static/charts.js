// The dashboard's charts: every <canvas data-chart="ID"> is drawn by Chart.js from the JSON in <script id="ID">,
// the same rows as the table beside it. Without this script (or Chart.js) the tables still carry every number.
(function () {
  var palette = ["#0a5ad4", "#e07b00", "#11703b", "#8250df", "#b42318", "#0f7b8a", "#9a6700", "#57606a"];
  function draw(canvas) {
    var spec = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
    var percent = function (value) { return Math.round(value * 1000) / 10 + "%"; };
    var datasets = spec.datasets.map(function (d, i) {
      var colour = palette[i % palette.length];
      return {label: d.label, data: d.data, type: d.line ? "line" : undefined, backgroundColor: colour,
              borderColor: colour, borderWidth: spec.type === "line" || d.line ? 2 : 0, spanGaps: true};
    });
    var value = {beginAtZero: !spec.log, type: spec.log ? "logarithmic" : "linear",
                 ticks: spec.percent ? {callback: percent} : {},
                 title: {display: !!spec.unit, text: spec.unit || ""}};
    new Chart(canvas, {
      type: spec.type,
      data: {labels: spec.labels, datasets: datasets},
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        scales: spec.horizontal ? {x: value} : {y: value},
        plugins: {
          legend: {position: "bottom"},
          tooltip: spec.percent ? {callbacks: {label: function (c) { return c.dataset.label + ": " + percent(c.raw); }}} : {}
        }
      }
    });
  }
  function start() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
