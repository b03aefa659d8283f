// Messages over time on the overview: uPlot (vendored) reads the JSON the page carries, and
// draws again when live updates bring new figures (htmx swaps #overview-figures).
(function () {
  "use strict";
  var colours = ["#0b6b4f", "#1a4fd6", "#a14d00"];
  var chart = null;
  var holder = null;

  function size() {
    return { width: Math.max(holder.clientWidth, 280), height: 260 };
  }

  function draw() {
    holder = document.getElementById("messages-chart");
    var source = document.getElementById("messages-chart-data");
    if (!holder || !source || typeof uPlot === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var series = [{}];
    var columns = [data.x];
    data.series.forEach(function (line, index) {
      series.push({ label: line.label, stroke: colours[index % colours.length], width: 2 });
      columns.push(line.values);
    });
    if (chart) { chart.destroy(); }
    chart = new uPlot(Object.assign(size(), { series: series, axes: [{}, {}] }), columns, holder);
  }

  draw();
  window.addEventListener("resize", function () { if (chart) { chart.setSize(size()); } });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.elt && event.detail.elt.id === "overview-figures") { draw(); }
  });
})();
