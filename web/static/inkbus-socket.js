/**
 * The Inkbus drawing protocol over Socket.IO, as an ES module any page can import (docs/PROTOCOL.md, "Socket.IO").
 *
 *   <script src="/vendor/socket.io.min.js"></script>          <!-- socket.io-client 4.x from npm, never a CDN -->
 *   <script type="module">
 *     import { InkbusSocket, limitsFrom } from "/static/inkbus-socket.js";
 *     const ink = new InkbusSocket({ limits: limitsFrom(document.body.dataset) });
 *     ink.on("prediction", (p) => console.log(p.top[0].label, p.seq));
 *     const id = ink.beginStroke();
 *     ink.addPoint([120, 80, 0]); ink.addPoint([130, 400, 90]);
 *     ink.endStroke();                                          // pen-up: the edge answers with a prediction
 *   </script>
 *
 * One connection is one drawing. The module keeps the drawing's strokes, streams new points as `stroke` events
 * (at most `maxPointsPerMessage` per event), sends the pen-up, `undo` and `clear` with an acknowledgement (whose
 * `seq` times the round trip), replays the drawing after a reconnect (the edge starts a new drawing then), and
 * drops stale answers: an answer is passed on only if its `seq` is newer than every answer seen and not older
 * than the last acknowledged `undo`/`clear`.
 *
 * Its version is the package's and the OpenAPI document's (`info.version` of /api/v1/openapi.json); a test
 * checks that they agree.
 */

export const PROTOCOL_VERSION = "0.1.0";

/** The limits the edge enforces when no page tells better (the page reads them from its data attributes). */
export const DEFAULT_LIMITS = Object.freeze({ maxStrokes: 64, maxPointsPerMessage: 256 });

/** Events a client sends, and events the edge sends. */
export const CLIENT_EVENTS = Object.freeze(["stroke", "undo", "clear", "check"]);
export const SERVER_EVENTS = Object.freeze(["prediction", "error", "feedback"]);

/** Local events this module adds: the connection's state, acknowledged actions and measured round trips. */
export const LOCAL_EVENTS = Object.freeze(["status", "ack", "rtt"]);

/**
 * The limits from a page's `data-max-strokes` / `data-max-points-per-message` (web/pages.py renders them).
 * @param {DOMStringMap | Record<string, string>} dataset
 * @returns {{maxStrokes: number, maxPointsPerMessage: number}}
 */
export function limitsFrom(dataset) {
  const int = (v, fallback) => (Number.isFinite(parseInt(v, 10)) ? parseInt(v, 10) : fallback);
  return {
    maxStrokes: int(dataset.maxStrokes, DEFAULT_LIMITS.maxStrokes),
    maxPointsPerMessage: int(dataset.maxPointsPerMessage, DEFAULT_LIMITS.maxPointsPerMessage),
  };
}

export class InkbusSocket {
  /**
   * @param {object} [options]
   * @param {Function} [options.io] socket.io-client's `io` (default: the global one /vendor/socket.io.min.js defines)
   * @param {string} [options.url] the edge; default: the page's own origin
   * @param {{maxStrokes?: number, maxPointsPerMessage?: number}} [options.limits]
   * @param {object} [options.socketOptions] passed to `io()`
   */
  constructor({ io = globalThis.io, url, limits = {}, socketOptions = {} } = {}) {
    if (typeof io !== "function") {
      throw new TypeError("InkbusSocket needs socket.io-client's io(): load /vendor/socket.io.min.js or pass {io}");
    }
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.chunk = Math.max(1, Math.min(256, this.limits.maxPointsPerMessage));
    /** The drawing: one array of [x, y, t] points per stroke. Read it; change it only through this class. */
    this.strokes = [];
    this._open = null; // index of the stroke being drawn (pen down), or null
    this._pending = []; // its points not yet sent
    this._lastSeq = 0; // newest answer passed on
    this._floorSeq = 0; // seq of the last acknowledged undo/clear
    this._sentAt = new Map(); // seq -> when its action was sent
    this._arrivedAt = new Map(); // seq -> when its answer arrived
    this._handlers = new Map();
    const opts = { transports: ["websocket", "polling"], tryAllTransports: true, reconnectionDelayMax: 3000, ...socketOptions };
    this.socket = url ? io(url, opts) : io(opts);
    this._listen();
  }

  /** Subscribe to `prediction`, `error`, `feedback` (the edge's events) or `status`, `ack`, `rtt` (local ones). */
  on(event, handler) {
    if (!SERVER_EVENTS.includes(event) && !LOCAL_EVENTS.includes(event)) throw new RangeError(`unknown event ${event}`);
    if (!this._handlers.has(event)) this._handlers.set(event, []);
    this._handlers.get(event).push(handler);
    return this;
  }

  get connected() { return this.socket.connected; }
  get drawing() { return this._open !== null; }

  /** Pen down: a new stroke. Returns its id, or null when the drawing already has `maxStrokes` strokes. */
  beginStroke() {
    if (this._open !== null) this.endStroke();
    if (this.strokes.length >= this.limits.maxStrokes) return null;
    this._open = this.strokes.length;
    this.strokes.push([]);
    this._pending = [];
    return this._open;
  }

  /** A point [x, y] or [x, y, t] of the open stroke; a repeat of the last position is dropped. */
  addPoint(point) {
    if (this._open === null) return false;
    const s = this.strokes[this._open];
    const last = s[s.length - 1];
    if (last && last[0] === point[0] && last[1] === point[1]) return false;
    s.push(point);
    this._pending.push(point);
    return true;
  }

  /** Send the open stroke's new points (the page calls this every 32 ms while the pen is down). */
  flush() { this._send(false); }

  /** Pen up: the rest of the stroke with `final: true`; the edge answers with a prediction or an error. */
  endStroke() {
    if (this._open === null) return;
    this._send(true);
    this._open = null;
  }

  /** Remove the last stroke. The edge answers for what is left (nothing when the drawing is empty). */
  undo() {
    if (this._open !== null || this.strokes.length === 0) return false;
    this.strokes.pop();
    if (this.connected) this._action("undo", {}, true);
    return true;
  }

  /** Remove every stroke; stroke ids count from 0 again. */
  clear() {
    this._open = null;
    this._pending = [];
    this.strokes.length = 0;
    if (this.connected) this._action("clear", {}, true);
  }

  /**
   * Practice: grade the drawing the edge holds against `target`. Resolves with the ack (`{ok, job_id}` or
   * `{ok: false, code, message}`); the verdict follows as a `feedback` event with that `job_id`.
   */
  check(target) {
    return new Promise((resolve) => this.socket.emit("check", { target }, resolve));
  }

  close() { this.socket.close(); }

  // ---- internals
  _emit(event, ...args) {
    for (const h of this._handlers.get(event) || []) h(...args);
  }

  _send(final) {
    if (this._open === null) return;
    if (!this.connected) { // the whole drawing is replayed on (re)connect
      this._pending = [];
      return;
    }
    if (!final && this._pending.length === 0) return;
    this._stream(this._open, this._pending, final);
    this._pending = [];
  }

  // `points` of stroke `id` in events of at most `chunk` points; the last one says `final` (a pen-up, acked).
  _stream(id, points, final) {
    for (let i = 0; i < points.length || i === 0; i += this.chunk) {
      const last = i + this.chunk >= points.length;
      const msg = { id, points: points.slice(i, i + this.chunk), final: final && last };
      if (msg.final) this._action("stroke", msg); else this.socket.emit("stroke", msg);
    }
  }

  // An action that takes a seq: its ack says which, so the round trip can be timed.
  _action(event, payload, isReset = false) {
    const t = performance.now();
    this.socket.emit(event, payload, (ack) => {
      if (!ack || typeof ack.seq !== "number") return;
      this._sentAt.set(ack.seq, t);
      if (isReset) this._floorSeq = Math.max(this._floorSeq, ack.seq);
      this._emit("ack", ack);
      this._rtt(ack.seq);
    });
  }

  _rtt(seq) {
    if (!this._sentAt.has(seq) || !this._arrivedAt.has(seq)) return;
    this._emit("rtt", this._arrivedAt.get(seq) - this._sentAt.get(seq), seq);
    for (const m of [this._sentAt, this._arrivedAt]) for (const k of m.keys()) if (k <= seq) m.delete(k);
  }

  _fresh(seq) { return seq > this._lastSeq && seq >= this._floorSeq; }

  _replay() {
    this.strokes.forEach((s, id) => this._stream(id, s, this._open !== id));
    if (this._open !== null) this._pending = [];
  }

  _listen() {
    const s = this.socket;
    s.on("connect", () => {
      // A new connection is a new drawing on the edge: seq restarts, and the strokes are sent again.
      this._lastSeq = this._floorSeq = 0;
      this._sentAt.clear();
      this._arrivedAt.clear();
      this._emit("status", "live");
      this._replay();
    });
    s.on("disconnect", () => this._emit("status", "offline"));
    s.on("connect_error", () => this._emit("status", "unreachable"));
    s.on("prediction", (p) => {
      if (!p || typeof p.seq !== "number" || !this._fresh(p.seq)) return; // never an older guess after a newer one
      this._lastSeq = p.seq;
      if (this.strokes.length === 0) return; // cleared meanwhile
      this._arrivedAt.set(p.seq, performance.now());
      this._emit("prediction", p);
      this._rtt(p.seq);
    });
    s.on("error", (e) => {
      if (!e || typeof e.code !== "string") return;
      if (typeof e.seq === "number") { // the answer to one of this drawing's actions
        if (!this._fresh(e.seq)) return;
        this._lastSeq = e.seq;
      }
      this._emit("error", e);
    });
    s.on("feedback", (f) => { if (f) this._emit("feedback", f); });
  }
}
