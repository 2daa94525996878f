// The mailing form's audience pickers (mailing.forms.PickerInput): a search box that asks the
// dashboard for at most 20 matches, chosen items shown as removable chips, the chosen ids kept
// in one hidden input. Below the form, what saving would do ("Sends to 1,234 recipients now"),
// asked of the server whenever the choice or the first send time changes. No inline script:
// the page's CSP allows only files like this one.
(function () {
  "use strict";

  function debounce(fn, ms) {
    let timer = null;
    return function (...args) {
      clearTimeout(timer);
      timer = setTimeout(() => fn.apply(this, args), ms);
    };
  }

  function setUp(picker, onChange) {
    const value = picker.querySelector("[data-picker-value]");
    const chosen = picker.querySelector("[data-picker-chosen]");
    const search = picker.querySelector("[data-picker-search]");
    const results = picker.querySelector("[data-picker-results]");
    const url = picker.dataset.searchUrl;
    const kind = picker.dataset.kind;
    const removeLabel = chosen.dataset.removeLabel || "Remove";

    const ids = () => value.value.split(",").filter((id) => id !== "");
    function write(list) {
      value.value = list.join(",");
      onChange();
    }

    function addChip(id, label) {
      const item = document.createElement("li");
      item.className = "badge rounded-pill text-bg-light border d-inline-flex align-items-center gap-1";
      item.dataset.id = id;
      const text = document.createElement("span");
      text.className = "text-truncate";
      text.textContent = label;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn-close";
      remove.dataset.pickerRemove = "";
      remove.setAttribute("aria-label", removeLabel);
      item.append(text, remove);
      chosen.append(item);
    }

    chosen.addEventListener("click", (event) => {
      const button = event.target.closest("[data-picker-remove]");
      if (!button) return;
      const item = button.closest("li");
      write(ids().filter((id) => id !== item.dataset.id));
      item.remove();
    });

    function close() {
      results.replaceChildren();
    }

    async function lookUp() {
      const query = search.value.trim();
      try {
        const response = await fetch(`${url}?kind=${encodeURIComponent(kind)}&q=${encodeURIComponent(query)}`, {
          headers: { Accept: "application/json" },
          cache: "no-store",
        });
        if (!response.ok) return;
        const data = await response.json();
        if (search.value.trim() !== query) return; // a newer search is on its way
        const current = new Set(ids());
        close();
        for (const item of data.results) {
          const option = document.createElement("button");
          option.type = "button";
          option.className = "list-group-item list-group-item-action";
          option.setAttribute("role", "option");
          option.dataset.id = String(item.id);
          option.textContent = item.label;
          if (item.detail) {
            const detail = document.createElement("small");
            detail.className = "text-body-secondary ms-2";
            detail.textContent = item.detail;
            option.append(detail);
          }
          if (current.has(String(item.id))) option.disabled = true;
          option.addEventListener("click", () => {
            if (!ids().includes(option.dataset.id)) {
              write([...ids(), option.dataset.id]);
              addChip(option.dataset.id, item.label);
            }
            search.value = "";
            close();
            search.focus();
          });
          results.append(option);
        }
      } catch (error) {
        // A failed look-up is retried on the next keystroke.
      }
    }

    search.addEventListener("input", debounce(lookUp, 200));
    search.addEventListener("focus", lookUp);
    search.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
      if (event.key === "Enter") {
        // Enter picks the first match instead of submitting the form.
        event.preventDefault();
        const first = results.querySelector("button:not([disabled])");
        if (first) first.click();
      }
      if (event.key === "ArrowDown") {
        const first = results.querySelector("button");
        if (first) {
          event.preventDefault();
          first.focus();
        }
      }
    });
    document.addEventListener("click", (event) => {
      if (!picker.contains(event.target)) close();
    });
  }

  const summary = document.querySelector("[data-audience-summary]");
  const form = summary ? summary.closest("main, body").querySelector("form[method=post]") : null;

  const refresh = debounce(async function () {
    if (!summary || !form) return;
    try {
      const response = await fetch(summary.dataset.summaryUrl, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const data = await response.json();
      summary.textContent = data.text;
      summary.classList.remove("d-none");
      summary.dataset.count = String(data.count);
    } catch (error) {
      // The summary is a hint; the form works without it.
    }
  }, 300);

  for (const picker of document.querySelectorAll("[data-picker]")) setUp(picker, refresh);
  if (form) {
    form.addEventListener("change", refresh);
    refresh();
  }
})();
