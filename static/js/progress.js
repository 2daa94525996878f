// Live delivery progress on the mailing page: polls the progress endpoint while a run is
// sending and updates the bar, the counters and that run's row in the runs table without
// reloading the page, so that the card and the table never disagree. A run that started
// after the page loaded has no row yet: the page offers a refresh instead.
(function () {
  const card = document.getElementById("progress-card");
  if (!card) return;
  const url = card.dataset.progressUrl;
  const field = (name) => card.querySelector(`[data-progress="${name}"]`);
  let idleChecks = 0;
  let wasRunning = card.dataset.running === "true";

  function renderRow(run) {
    const row = document.querySelector(`[data-run-id="${run.id}"]`);
    if (!row) return false;
    for (const name of ["sent", "failed", "skipped", "total"]) {
      const cell = row.querySelector(`[data-run-cell="${name}"]`);
      if (cell) cell.textContent = run[name];
    }
    const finished = row.querySelector('[data-run-cell="finished"]');
    if (finished && run.finished) finished.textContent = run.finished;
    return true;
  }

  function render(data) {
    const bar = field("bar");
    bar.style.width = `${data.percent}%`;
    bar.textContent = `${data.percent}%`;
    bar.parentElement.setAttribute("aria-valuenow", data.percent);
    bar.classList.toggle("progress-bar-animated", data.running);
    bar.classList.toggle("progress-bar-striped", data.running);
    for (const name of ["sent", "failed", "cancelled", "skipped", "pending", "total"]) {
      field(name).textContent = data[name];
    }
    // The words come from the page (data-label-*), in the page's language.
    const labels = card.dataset;
    field("state").textContent = data.run_id
      ? data.running
        ? labels.labelSending || "sending…"
        : labels.labelDone || "done"
      : labels.labelNotStarted || "not started";
    if (data.run && !renderRow(data.run)) field("refresh").classList.remove("d-none");
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) {
        const data = await response.json();
        render(data);
        if (wasRunning && !data.running) field("refresh").classList.remove("d-none");
        wasRunning = data.running;
        idleChecks = data.running ? 0 : idleChecks + 1;
      }
    } catch (error) {
      // A failed poll is retried on the next tick.
    }
    // Keep polling while sending; after it is done, stop (a few more checks catch a run the
    // scheduler starts right after the page loaded).
    if (idleChecks < 3) setTimeout(poll, 1000);
  }

  if (card.dataset.running === "true") poll();
  else setTimeout(poll, 1000);
})();
