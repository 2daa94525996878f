// Small behaviours the templates ask for with data attributes: the site's pages run no inline
// script (Content-Security-Policy), so what used to be inline lives here.
(function () {
  // A modal to show at once, e.g. the schedule form sent back with an error under its field.
  for (const element of document.querySelectorAll("[data-show-on-load]")) {
    if (typeof bootstrap !== "undefined") bootstrap.Modal.getOrCreateInstance(element).show();
  }
  // "Go back" links: the previous page when there is one, else their own href.
  for (const link of document.querySelectorAll("[data-history-back]")) {
    link.addEventListener("click", (event) => {
      if (window.history.length > 1) {
        event.preventDefault();
        window.history.back();
      }
    });
  }
  // Forms on pages that are the same for everyone (the language switcher) get their CSRF token
  // when they are sent, then go as the button that was pressed sent them.
  for (const form of document.querySelectorAll("form[data-csrf-token-url]")) {
    const input = form.querySelector('input[name="csrfmiddlewaretoken"]');
    form.addEventListener("submit", async (event) => {
      if (input.value) return;
      event.preventDefault();
      const submitter = event.submitter;
      try {
        const response = await fetch(form.dataset.csrfTokenUrl, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json" },
        });
        input.value = (await response.json()).token;
      } catch (error) {
        return; // no token, no post: the page stays as it is
      }
      form.requestSubmit(submitter);
    });
  }
  // Progress bars drawn to their data-percent (a style attribute would need 'unsafe-inline').
  for (const bar of document.querySelectorAll(".progress-bar[data-percent]")) {
    bar.style.width = `${bar.dataset.percent}%`;
  }
})();

// Forms that ask first (data-confirm="what will happen"): the page's one dialog says it, and
// the form is sent only from the dialog's button. Without script the form is sent at once.
(function () {
  const modal = document.getElementById("confirm-modal");
  if (!modal || typeof bootstrap === "undefined") return;
  const dialog = bootstrap.Modal.getOrCreateInstance(modal);
  const ok = modal.querySelector("[data-confirm-ok]");
  const defaultLabel = ok.textContent;
  let pending = null;
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    if (form.dataset.confirmed === "true") return;
    event.preventDefault();
    pending = form;
    modal.querySelector("[data-confirm-title]").textContent = form.dataset.confirmTitle || "";
    modal.querySelector("[data-confirm-text]").textContent = form.dataset.confirm;
    ok.textContent = form.dataset.confirmButton || defaultLabel;
    ok.className = `btn ${form.dataset.confirmClass || "btn-primary"}`;
    dialog.show();
  });
  ok.addEventListener("click", () => {
    if (!pending) return;
    const form = pending;
    pending = null;
    form.dataset.confirmed = "true";
    dialog.hide();
    form.requestSubmit();
  });
})();
