// clockd web UI: the live log of a run page, and filling the run form from a clock's values.
"use strict";

function followLog(pre) {
  const status = document.getElementById("log-status");
  const source = new EventSource(pre.dataset.events);
  source.addEventListener("line", (event) => {
    const line = JSON.parse(event.data);
    const row = document.createElement("span");
    row.className = line.stream;
    const stamp = document.createElement("span");
    stamp.className = "ts";
    stamp.textContent = line.time.substring(11, 23) + " ";
    row.appendChild(stamp);
    row.appendChild(document.createTextNode(line.text + "\n"));  // text, never HTML
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(row);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("end", (event) => {
    const end = JSON.parse(event.data);
    source.close();
    if (status) status.textContent = "run ended: " + end.state;
    const state = document.getElementById("run-state");
    if (state) {
      state.textContent = "";
      const badge = document.createElement("span");
      badge.className = "state state-" + end.state;
      badge.textContent = end.state;
      state.appendChild(badge);
    }
    const exit = document.getElementById("run-exit");
    if (exit && end.exit_code !== null && end.exit_code !== undefined) exit.textContent = String(end.exit_code);
    document.body.dataset.runEnded = end.state;
  });
}

function clockDefaults(form) {
  const select = document.getElementById("clock-select");
  if (!select) return;
  const values = JSON.parse(form.dataset.clockValues || "{}");
  select.addEventListener("change", () => {
    const chosen = values[select.value] || {};
    for (const [name, value] of Object.entries(chosen)) {
      const input = document.getElementById("p-" + name);
      if (!input) continue;
      if (input.type === "checkbox") input.checked = value === "true" || value === "True";
      else input.value = value;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const pre = document.getElementById("log");
  if (pre && pre.dataset.events) followLog(pre);
  const form = document.getElementById("run-form");
  if (form) clockDefaults(form);
});
