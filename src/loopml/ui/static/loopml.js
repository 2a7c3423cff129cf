// loopml's pages: metric curves drawn with uPlot (vendored), from the JSON each page embeds in
// <script type="application/json" class="chart-data"> elements. Drag across a chart to zoom
// into steps (or time: a chart with "time": true has x in seconds since the epoch, shown in
// UTC; "x_label" names another x axis); double-click to zoom out again.
(function () {
  "use strict";
  var COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777"];

  function draw(node) {
    var chart = JSON.parse(node.textContent);
    var holder = node.parentNode;
    var width = Math.max(320, holder.clientWidth - 16);
    var time = chart.time === true;
    var xLabel = time ? "time (UTC)" : (chart.x_label || "step");
    var series = [{ label: xLabel }];
    var data = [chart.x];
    chart.series.forEach(function (s, i) {
      series.push({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
                    points: { show: chart.x.length < 60 } });
      data.push(s.y);
    });
    var opts = {
      width: width, height: 240, series: series,
      scales: { x: { time: time } },
      axes: [{ label: xLabel }, {}],
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { live: true },
      hooks: { setScale: [function (u, key) {  // the shown step range, for readers and tests
        if (key === "x") {
          holder.setAttribute("data-x-min", String(u.scales.x.min));
          holder.setAttribute("data-x-max", String(u.scales.x.max));
        }
      }] }
    };
    if (time) { opts.tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }; }
    var plot = new uPlot(opts, data, holder);
    holder.setAttribute("data-drawn", String(chart.x.length));
    plot.over.addEventListener("dblclick", function () {
      plot.setScale("x", { min: chart.x[0], max: chart.x[chart.x.length - 1] });
    });
  }

  function drawAll() {
    var nodes = document.querySelectorAll("script.chart-data");
    for (var i = 0; i < nodes.length; i++) { draw(nodes[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
