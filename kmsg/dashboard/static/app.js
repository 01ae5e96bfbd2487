// kmsg dashboard: live counts, confirmations and "select all". No dependencies.
"use strict";
(function () {
  const POLL_MS = 2000;

  function setText(selector, text) {
    document.querySelectorAll(selector).forEach(function (el) {
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("zero", text === "0");
    });
  }

  async function refreshCounts() {
    let response;
    try {
      response = await fetch("/api/counts", { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (err) {
      return;
    }
    if (!response.ok) return;
    const data = await response.json();
    data.queues.forEach(function (q) {
      ["pending", "delayed", "processing", "completed", "failed", "cancelled"].forEach(function (state) {
        setText('[data-count="' + CSS.escape(q.queue + ":" + state) + '"]', String(q[state]));
      });
      const rate = q.throughput_per_min;
      setText('[data-throughput="' + CSS.escape(q.queue) + '"]', rate === null ? "-" : rate.toFixed(1));
    });
  }

  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    const message = button && button.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    const box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    document.querySelectorAll('input[type=checkbox][name=id]').forEach(function (el) {
      el.checked = box.checked;
    });
  });

  if (document.querySelector("[data-count]")) {
    window.setInterval(refreshCounts, POLL_MS);
  }
})();
