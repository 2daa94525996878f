// Draws the attempts-per-day bar chart from the JSON that the page embeds with json_script.
// The legend and the axis titles come from the canvas's data-label-* attributes, which the
// template writes in the page's language (no inline script: the CSP forbids it).
(function () {
  const canvas = document.getElementById("attempts-chart");
  const source = document.getElementById("per-day-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  const days = JSON.parse(source.textContent);
  const labels = canvas.dataset;
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: days.map((d) => d.day.slice(5)),
      datasets: [
        { label: labels.labelSuccesses || "Successful", data: days.map((d) => d.successes), backgroundColor: "#198754" },
        { label: labels.labelFailures || "Failed", data: days.map((d) => d.failures), backgroundColor: "#dc3545" },
      ],
    },
    options: {
      // The box (.chart-box in site.css) sets the height: kept to the canvas's aspect ratio,
      // a phone's chart was a strip a few pixels high.
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true, title: { display: Boolean(labels.labelX), text: labels.labelX } },
        y: {
          stacked: true,
          beginAtZero: true,
          ticks: { precision: 0 },
          title: { display: Boolean(labels.labelY), text: labels.labelY },
        },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
})();
