// clockd web UI: the live log of a run page, and filling the run form from a clock's values.
"use strict";

function followLog(pre) {
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
    source.close();
    showEnd(JSON.parse(event.data));
  });
}

// The same text as the server's `when` filter: "2026-03-01 09:00:00 UTC".
function formatTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toISOString().substring(0, 19).replace("T", " ") + " UTC";
}

// The same text as the server's `duration` filter.
function formatDuration(startedIso, endedIso) {
  if (!startedIso) return "—";
  const seconds = Math.max((new Date(endedIso) - new Date(startedIso)) / 1000, 0);
  if (seconds < 60) return seconds.toFixed(1) + "s";
  const whole = Math.floor(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return hours ? hours + "h" + pad(minutes) + "m" : minutes + "m" + pad(whole % 60) + "s";
}

// A run ended while its page was open: show what the page would show if loaded now.
function showEnd(end) {
  const setText = (id, text) => {
    const element = document.getElementById(id);
    if (element) element.textContent = text;
  };
  setText("log-status", "run ended: " + end.state);
  const state = document.getElementById("run-state");
  if (state) {
    state.textContent = "";
    const badge = document.createElement("span");
    badge.className = "state state-" + end.state;
    badge.textContent = end.state;
    state.appendChild(badge);
  }
  if (end.started_at) setText("run-started", formatTime(end.started_at));
  if (end.ended_at) {
    setText("run-ended", formatTime(end.ended_at));
    setText("run-duration", formatDuration(end.started_at, end.ended_at));
  }
  if (end.exit_code !== null && end.exit_code !== undefined) setText("run-exit", String(end.exit_code));
  if (end.error) {
    setText("run-error", end.error);  // text, never HTML
    const row = document.getElementById("run-error-row");
    if (row) row.hidden = false;
  }
  const cancel = document.getElementById("cancel-form");
  if (cancel) cancel.remove();
  document.body.dataset.runEnded = end.state;
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
