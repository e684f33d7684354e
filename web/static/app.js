// Inkbus drawing page: pointer ink -> Socket.IO `stroke`/`undo`/`clear`; `prediction`/`error` -> the guess panel.
// Protocol: docs/PROTOCOL.md, "Socket.IO". socket.io-client comes from npm (served at /vendor/), never a CDN.
(() => {
  "use strict";

  const SIZE = 1000; // ink is sent in a 1000 x 1000 logical square, whatever the screen size
  const BATCH_MS = 32; // points are streamed in batches while the pen is down
  // The server's limits, from the page's data attributes (web/pages.py): one source of truth.
  const LIMITS = document.body.dataset;
  const CHUNK = Math.min(256, parseInt(LIMITS.maxPointsPerMessage, 10)); // points per `stroke` event
  const MAX_STROKES = parseInt(LIMITS.maxStrokes, 10);
  const TIMEOUT_MS = (parseFloat(document.body.dataset.timeoutS) || 10) * 1000;

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

  // ---- state
  const strokes = []; // [[x, y, t], ...] per stroke, logical units; t in ms since the drawing began
  let active = null; // {id, pointerId} while the pen is down
  let pending = []; // points of the active stroke not yet sent
  let batchTimer = null;
  let origin = null; // performance.now() of the drawing's first point
  let lastSeq = 0; // newest answer shown: older ones are ignored
  let floorSeq = 0; // seq of the last undo/clear: answers before it describe another drawing
  const sentAt = new Map(); // seq -> performance.now() when its action was sent
  const arrivedAt = new Map(); // seq -> performance.now() when its prediction was shown
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
    const s = strokes[active.id];
    const p = point(ev);
    const last = s[s.length - 1];
    if (last && last[0] === p[0] && last[1] === p[1]) return;
    s.push(p);
    pending.push(p);
    scheduleRedraw();
  }

  // ---- pointer events (mouse, touch, pen): one stroke at a time, from the primary pointer
  canvas.addEventListener("pointerdown", (ev) => {
    if (active || !ev.isPrimary || (ev.pointerType === "mouse" && ev.button !== 0)) return;
    ev.preventDefault();
    if (strokes.length >= MAX_STROKES) return showMessage("too_many_strokes");
    canvas.setPointerCapture(ev.pointerId);
    if (origin === null) origin = performance.now();
    active = { id: strokes.length, pointerId: ev.pointerId };
    strokes.push([]);
    pending = [];
    addPoint(ev);
    batchTimer = setInterval(() => send(false), BATCH_MS);
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
    send(true);
    active = null;
  }
  canvas.addEventListener("pointerup", penUp);
  canvas.addEventListener("pointercancel", penUp);

  // ---- sending
  function send(final) {
    if (!active) return;
    if (!socket.connected) { // the whole drawing is replayed on (re)connect
      pending = [];
      return;
    }
    while (pending.length > CHUNK) socket.emit("stroke", { id: active.id, points: pending.splice(0, CHUNK), final: false });
    if (!final && pending.length === 0) return;
    const msg = { id: active.id, points: pending, final };
    pending = [];
    if (final) {
      action("stroke", msg);
      thinking();
    } else {
      socket.emit("stroke", msg);
    }
  }

  // An action that takes a seq: the ack tells which, so the page can time its round trip.
  function action(event, payload, isReset = false) {
    const t = performance.now();
    socket.emit(event, payload, (ack) => {
      if (!ack || typeof ack.seq !== "number") return;
      sentAt.set(ack.seq, t);
      document.body.dataset.ackSeq = String(ack.seq); // the newest accepted action (tests wait on it)
      if (isReset) floorSeq = Math.max(floorSeq, ack.seq);
      showRtt(ack.seq);
    });
  }

  function undo() {
    if (active) return;
    if (strokes.length === 0) return;
    strokes.pop();
    if (strokes.length === 0) origin = null;
    redraw(); // at once, not on the next frame: the pad must never show ink the guess panel has dropped
    if (socket.connected) action("undo", {}, true);
    if (strokes.length) thinking(); else idle();
  }

  function clear() {
    if (active) { clearInterval(batchTimer); active = null; pending = []; }
    strokes.length = 0;
    origin = null;
    redraw(); // at once (see undo): the panel says "idle" in the same task, so the pad is blank with it
    if (socket.connected) action("clear", {}, true);
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

  function showRtt(seq) {
    if (sentAt.has(seq) && arrivedAt.has(seq)) {
      ui.rtt.textContent = `${Math.round(arrivedAt.get(seq) - sentAt.get(seq))} ms`;
      for (const m of [sentAt, arrivedAt]) for (const k of m.keys()) if (k <= seq) m.delete(k);
    }
  }

  // ---- socket
  const socket = io({ transports: ["websocket", "polling"], tryAllTransports: true, reconnectionDelayMax: 3000 });

  socket.on("connect", () => {
    ui.conn.dataset.state = "live";
    ui.conn.textContent = "live";
    // A new connection is a new drawing on the server: seq restarts, and the strokes are sent again.
    lastSeq = floorSeq = 0;
    sentAt.clear();
    arrivedAt.clear();
    strokes.forEach((s, id) => {
      const open = active && active.id === id;
      for (let i = 0; i < s.length || i === 0; i += CHUNK) {
        const final = !open && i + CHUNK >= s.length;
        const msg = { id, points: s.slice(i, i + CHUNK), final };
        if (final) action("stroke", msg); else socket.emit("stroke", msg);
      }
    });
    if (active) pending = [];
  });

  socket.on("disconnect", () => {
    ui.conn.dataset.state = "offline";
    ui.conn.textContent = "offline: reconnecting…";
  });
  socket.on("connect_error", () => {
    ui.conn.dataset.state = "offline";
    ui.conn.textContent = "cannot reach the server: retrying…";
  });

  const fresh = (seq) => seq > lastSeq && seq >= floorSeq;

  socket.on("prediction", (p) => {
    if (!p || typeof p.seq !== "number" || !fresh(p.seq)) return; // never show an older guess after a newer one
    lastSeq = p.seq;
    if (strokes.length === 0) return; // cleared meanwhile
    arrivedAt.set(p.seq, performance.now());
    showPrediction(p);
    showRtt(p.seq);
  });

  socket.on("error", (e) => {
    if (!e || typeof e.code !== "string") return;
    if (typeof e.seq === "number") { // the answer to one of our actions
      if (!fresh(e.seq)) return;
      lastSeq = e.seq;
      showMessage(e.code, e.message, !["empty_ink", "degenerate_ink"].includes(e.code));
    } else {
      showMessage(e.code, e.message, true);
    }
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
  window.inkbus = { socket, hasInk: () => strokes.length > 0 };

  new ResizeObserver(resize).observe(canvas);
  window.addEventListener("resize", resize); // zoom changes devicePixelRatio
  matchMedia("(prefers-color-scheme: dark)").addEventListener?.("change", scheduleRedraw);
  resize();
  idle();
})();
