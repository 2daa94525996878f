// Draws the attempts-per-day bar chart from the JSON that the page embeds with json_script.
(function () {
  const canvas = document.getElementById("attempts-chart");
  const source = document.getElementById("per-day-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  const days = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: days.map((d) => d.day.slice(5)),
      datasets: [
        { label: "Successful", data: days.map((d) => d.successes), backgroundColor: "#198754" },
        { label: "Failed", data: days.map((d) => d.failures), backgroundColor: "#dc3545" },
      ],
    },
    options: {
      responsive: true,
      animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom" } },
    },
  });
})();
