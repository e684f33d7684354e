// Inkbus drawing page: pointer ink -> the protocol module (inkbus-socket.js) -> the guess panel.
// Protocol: docs/PROTOCOL.md, "Socket.IO". socket.io-client comes from npm (served at /vendor/), never a CDN.
import { InkbusSocket, limitsFrom } from "./inkbus-socket.js";

const SIZE = 1000; // ink is sent in a 1000 x 1000 logical square, whatever the screen size
const BATCH_MS = 32; // points are streamed in batches while the pen is down
// The server's limits, from the page's data attributes (web/pages.py): one source of truth.
const TIMEOUT_MS = (parseFloat(document.body.dataset.timeoutS) || 10) * 1000;
const ink = new InkbusSocket({ limits: limitsFrom(document.body.dataset) });
const strokes = ink.strokes; // [[x, y, t], ...] per stroke, logical units; t in ms since the drawing began

const $ = (sel) => document.querySelector(sel);
const canvas = $("#pad");
const ctx = canvas.getContext("2d");
const ui = {
  conn: $("#conn"), hint: $("#hint"), guess: $("#guess"), top1: $("#top1"), top: $("#top"),
  message: $("#message"), model: $("#model"), edge: $("#edge-ms"), rtt: $("#rtt-ms"),
};
const MESSAGES = {
  empty_ink: "Nothing to recognise yet: draw a letter or a digit.",
  degenerate_ink: "That is just a dot: draw the whole character.",
  rate_limited: "Slow down a little: some ink was dropped.",
  broker_unavailable: "The recognition service is unreachable right now. Try again in a moment.",
  no_workers: "No recognition worker is running right now. Try again in a moment.",
  too_many_strokes: "That is a lot of strokes: clear the pad and draw one character.",
  too_many_points: "That drawing is too long: clear the pad and draw one character.",
  timeout: "No answer yet: the recogniser is slow or down.",
};

let active = null; // {id, pointerId} while the pen is down
let batchTimer = null;
let origin = null; // performance.now() of the drawing's first point
let waitTimer = null;

// ---- drawing
let scale = 1;
let dirty = false;
const inkColor = () => getComputedStyle(document.documentElement).getPropertyValue("--ink").trim() || "#111";

function resize() {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(r.width * dpr));
  canvas.height = Math.max(1, Math.round(r.height * dpr));
  scale = canvas.width / SIZE;
  redraw();
}

function redraw() {
  dirty = false;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = 24;
  ctx.strokeStyle = ctx.fillStyle = inkColor();
  for (const s of strokes) {
    if (s.length === 0) continue;
    if (s.length === 1) {
      ctx.beginPath();
      ctx.arc(s[0][0], s[0][1], ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    // Quadratic curves through the midpoints: smooth at any sampling rate.
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    for (let i = 1; i < s.length - 1; i++) {
      ctx.quadraticCurveTo(s[i][0], s[i][1], (s[i][0] + s[i + 1][0]) / 2, (s[i][1] + s[i + 1][1]) / 2);
    }
    ctx.lineTo(s[s.length - 1][0], s[s.length - 1][1]);
    ctx.stroke();
  }
  ui.hint.hidden = strokes.length > 0;
}

function scheduleRedraw() {
  if (!dirty) {
    dirty = true;
    requestAnimationFrame(redraw);
  }
}

function point(ev) {
  const r = canvas.getBoundingClientRect();
  const x = ((ev.clientX - r.left) / r.width) * SIZE;
  const y = ((ev.clientY - r.top) / r.height) * SIZE;
  const round = (v) => Math.round(Math.min(SIZE, Math.max(0, v)) * 10) / 10;
  return [round(x), round(y), Math.round(performance.now() - origin)];
}

function addPoint(ev) {
  if (ink.addPoint(point(ev))) scheduleRedraw();
}

// ---- pointer events (mouse, touch, pen): one stroke at a time, from the primary pointer
canvas.addEventListener("pointerdown", (ev) => {
  if (active || !ev.isPrimary || (ev.pointerType === "mouse" && ev.button !== 0)) return;
  ev.preventDefault();
  if (origin === null) origin = performance.now();
  const id = ink.beginStroke();
  if (id === null) return showMessage("too_many_strokes");
  canvas.setPointerCapture(ev.pointerId);
  active = { id, pointerId: ev.pointerId };
  addPoint(ev);
  batchTimer = setInterval(() => ink.flush(), BATCH_MS);
});

canvas.addEventListener("pointermove", (ev) => {
  if (!active || ev.pointerId !== active.pointerId) return;
  const evs = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
  for (const e of evs.length ? evs : [ev]) addPoint(e);
});

function penUp(ev) {
  if (!active || ev.pointerId !== active.pointerId) return;
  if (ev.type === "pointerup") addPoint(ev);
  clearInterval(batchTimer);
  ink.endStroke();
  active = null;
  if (ink.connected) thinking();
}
canvas.addEventListener("pointerup", penUp);
canvas.addEventListener("pointercancel", penUp);

function undo() {
  if (active || !ink.undo()) return;
  if (strokes.length === 0) origin = null;
  redraw(); // at once, not on the next frame: the pad must never show ink the guess panel has dropped
  if (strokes.length) thinking(); else idle();
}

function clear() {
  if (active) { clearInterval(batchTimer); active = null; }
  ink.clear();
  origin = null;
  redraw(); // at once (see undo): the panel says "idle" in the same task, so the pad is blank with it
  idle();
}

// ---- the guess panel
function setState(state) { ui.guess.dataset.state = state; }

function idle() {
  clearTimeout(waitTimer);
  setState("idle");
  ui.top1.textContent = "?";
  ui.message.classList.remove("warn");
  ui.message.textContent = "Draw a letter (a–z, A–Z) or a digit (0–9).";
}

function thinking() {
  if (ui.guess.dataset.state === "guess") setState("thinking");
  clearTimeout(waitTimer);
  waitTimer = setTimeout(() => showMessage("timeout", null, true), TIMEOUT_MS);
}

function showPrediction(p) {
  clearTimeout(waitTimer);
  const top = Array.isArray(p.top) ? p.top : [];
  setState("guess");
  ui.guess.dataset.seq = String(p.seq);
  // One shape of several characters (0 o O, l 1 I, c C …): show the shape, not a confident single guess.
  const shape = p.shape && Array.isArray(p.shape.labels) && p.shape.labels.length > 1 ? p.shape.labels : null;
  ui.top1.textContent = shape ? shape.join(" / ") : top.length ? top[0].label : "?";
  ui.top1.dataset.shape = shape ? "group" : "single";
  ui.top1.title = shape ? "one shape: on a line, size tells these apart" : "";
  ui.top.replaceChildren(...top.map((t) => {
    const li = document.createElement("li");
    const pct = Math.max(0, Math.min(100, t.p * 100));
    li.innerHTML = '<span class="label"></span><span class="bar"><span></span></span><span class="p"></span>';
    li.querySelector(".label").textContent = t.label;
    li.querySelector(".bar > span").style.width = pct.toFixed(1) + "%";
    li.querySelector(".p").textContent = pct.toFixed(pct >= 99.5 || pct < 0.5 ? 0 : 1) + "%";
    li.setAttribute("aria-label", `${t.label}: ${pct.toFixed(0)} percent`);
    return li;
  }));
  ui.message.textContent = "";
  ui.message.classList.remove("warn");
  ui.model.textContent = p.model || "—";
  ui.edge.textContent = typeof p.latency_ms === "number" ? `${Math.round(p.latency_ms)} ms` : "—";
}

// transient: keep the current guess and add a warning under it
function showMessage(code, text, transient = false) {
  const msg = MESSAGES[code] || text || "Something went wrong.";
  if (transient && ui.guess.dataset.state !== "idle") {
    if (ui.guess.dataset.state === "thinking") setState("guess");
    ui.message.textContent = msg;
    ui.message.classList.add("warn");
    return;
  }
  clearTimeout(waitTimer);
  setState("message");
  ui.top1.textContent = "?";
  ui.message.classList.remove("warn");
  ui.message.textContent = msg;
}

// ---- the connection
ink.on("status", (state) => {
  ui.conn.dataset.state = state === "live" ? "live" : "offline";
  ui.conn.textContent = { live: "live", offline: "offline: reconnecting…", unreachable: "cannot reach the server: retrying…" }[state];
});
ink.on("ack", (ack) => { document.body.dataset.ackSeq = String(ack.seq); }); // the newest accepted action (tests wait on it)
ink.on("rtt", (ms) => { ui.rtt.textContent = `${Math.round(ms)} ms`; });
ink.on("prediction", showPrediction);
ink.on("error", (e) => {
  const answersAction = typeof e.seq === "number";
  showMessage(e.code, e.message, !answersAction || !["empty_ink", "degenerate_ink"].includes(e.code));
});

// ---- buttons and keyboard
$("#undo").addEventListener("click", undo);
$("#clear").addEventListener("click", clear);
document.addEventListener("keydown", (ev) => {
  if ((ev.ctrlKey || ev.metaKey) && !ev.shiftKey && !ev.altKey && ev.key.toLowerCase() === "z") {
    ev.preventDefault();
    undo();
  } else if (ev.key === "Escape") {
    ev.preventDefault();
    clear();
  }
});

// The practice and chat panels (tutor.js) share this connection: the server grades the drawing it holds.
export const hasInk = () => strokes.length > 0;
export { ink };

new ResizeObserver(resize).observe(canvas);
window.addEventListener("resize", resize); // zoom changes devicePixelRatio
matchMedia("(prefers-color-scheme: dark)").addEventListener?.("change", scheduleRedraw);
resize();
idle();
