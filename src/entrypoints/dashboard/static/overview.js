// Messages over time on the overview: uPlot (vendored) reads the JSON the page carries.
(function () {
  "use strict";
  var holder = document.getElementById("messages-chart");
  var source = document.getElementById("messages-chart-data");
  if (!holder || !source || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = ["#0b6b4f", "#1a4fd6", "#a14d00"];
  var series = [{}];
  var columns = [data.x];
  data.series.forEach(function (line, index) {
    series.push({ label: line.label, stroke: colours[index % colours.length], width: 2 });
    columns.push(line.values);
  });
  function size() {
    return { width: Math.max(holder.clientWidth, 280), height: 260 };
  }
  var chart = new uPlot(Object.assign(size(), { series: series, axes: [{}, {}] }), columns, holder);
  window.addEventListener("resize", function () { chart.setSize(size()); });
})();
