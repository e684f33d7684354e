// The ops page: polls /ops/api/state every second and draws queue depth against consumers.
"use strict";
const POLL_MS = 1000;
const HISTORY = 120; // points kept for the chart: two minutes at one a second
const history = [];
const $ = (id) => document.getElementById(id);
const fmt = (v, unit = "") => (v === null || v === undefined ? "—" : `${v}${unit}`);

function render(s) {
  $("model").textContent = s.model || "—";
  $("updated").textContent = new Date(s.time * 1000).toLocaleTimeString();
  $("rate").textContent = s.recognitions_per_s.toFixed(1);
  for (const q of ["p50", "p95", "p99"]) $(q).textContent = fmt(s.latency_ms[q], " ms");
  $("batch").textContent = fmt(s.batch_size.mean);
  $("batch-max").textContent = s.batch_size.max ? `max ${s.batch_size.max}` : "";
  $("errors").textContent = s.errors.count;
  $("error-codes").textContent = Object.entries(s.errors.by_code).map(([k, n]) => `${k} ${n}`).join(" · ");
  $("depth").textContent = fmt(s.queue.depth);
  $("consumers").textContent = s.queue.consumers;
  $("clients").textContent = s.clients;
  $("dlq").textContent = fmt(s.dead_letters);
  const list = $("components");
  list.replaceChildren(...Object.entries(s.components).map(([name, state]) => {
    const li = document.createElement("li");
    li.dataset.component = name;
    li.dataset.state = state;
    li.textContent = `${name}: ${state}`;
    return li;
  }));
  history.push({ depth: s.queue.depth || 0, consumers: s.queue.consumers || 0 });
  if (history.length > HISTORY) history.shift();
  draw();
}

function draw() {
  const c = $("queue-chart");
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const top = Math.max(4, ...history.map((p) => Math.max(p.depth, p.consumers)));
  const css = getComputedStyle(document.documentElement);
  const line = (key, color) => {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    history.forEach((p, i) => {
      const x = (i / Math.max(history.length - 1, 1)) * w, y = h - 4 - (p[key] / top) * (h - 12);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  };
  line("depth", css.getPropertyValue("--depth"));
  line("consumers", css.getPropertyValue("--cons"));
  g.fillStyle = css.getPropertyValue("--muted"); g.font = "12px system-ui"; g.fillText(String(top), 4, 12);
}

async function poll() {
  try {
    const res = await fetch("/ops/api/state", { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render(await res.json());
    document.body.dataset.state = "live";
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (err) {
    document.body.dataset.state = "stale";
  }
  setTimeout(poll, POLL_MS);
}
poll();
