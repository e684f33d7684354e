"""Socket.IO drawing sessions: strokes in, live predictions out (protocol: docs/PROTOCOL.md, "Socket.IO").

One connection is one drawing (``drawing_id``). Every accepted pen-up, undo and clear takes the next
``seq``; a pen-up (and an undo that leaves ink) publishes a job with that ``seq``. Answers come back
through the bridge's listener; a prediction is emitted only if it is newer than the last one emitted
for the connection and not older than the last undo or clear, so the page never shows a stale guess.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field

from flask import request
from flask_socketio import SocketIO
from kombu.utils.limits import TokenBucket

from bus.schemas import RecognizeJob
from foundation.logs import LogLimiter
from foundation.settings import Settings
from ml.ink import InkError, check_stroke
from observability.metrics import CONNECTED_CLIENTS
from web.admission import Refused, admit, publish

log = logging.getLogger("inkbus.sockets")
LOG_LIMIT = LogLimiter()  # per connection: repeated failures of one client cost a few log lines

# The text of the event packet being handled (set by web/socket_guards.py; per greenlet or thread). Re-encoding
# a JSON value compactly makes it at most this many times longer than its text (a character outside ASCII
# becomes a 12-character surrogate pair escape, "1e15" becomes "1000000000000000.0"), so a packet under the
# limit divided by it needs no re-encoding to be known small enough: the usual case, every streamed chunk.
PACKET = threading.local()
JSON_GROWTH = 12


class EventError(Exception):
    """A rejected event: sent to the client as ``error`` {"code", "message"}; the connection stays up."""

    def __init__(self, code: str, message: str, seq: int | None = None):
        super().__init__(message)
        self.code, self.message, self.seq = code, message, seq

    def payload(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.seq is not None:
            body["seq"] = self.seq
        return body


@dataclass
class Drawing:
    """The server's copy of one connection's drawing."""

    bucket: TokenBucket
    drawing_id: str = field(default_factory=lambda: "d-" + uuid.uuid4().hex)
    strokes: list[list[list[float]]] = field(default_factory=list)
    open_stroke: bool = False  # the last stroke still takes points (no pen-up yet)
    points: int = 0
    seq: int = 0  # last seq taken by a pen-up, undo or clear
    floor: int = 0  # answers to jobs older than this (the last undo/clear) are stale
    emitted: int = 0  # highest seq emitted to the client
    started: dict[int, float] = field(default_factory=dict)  # seq -> perf_counter at the action's receipt
    limited_at: float = -math.inf  # last time a rate_limited error was sent


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_points(points, stroke_id: int) -> list[list[float]]:
    """The points of one event, checked like any ink (ml.ink: same codes as the HTTP API)."""
    if not isinstance(points, list):
        raise EventError("invalid_event", '"points" must be a list of [x, y, t] points')
    try:
        check_stroke(points, stroke_id)
    except InkError as exc:
        raise EventError(exc.code, exc.message) from None
    return points


class DrawingSessions:
    def __init__(self, socketio: SocketIO, bridge, settings: Settings):
        self.socketio, self.bridge, self.settings = socketio, bridge, settings
        self._lock = threading.Lock()
        self._drawings: dict[str, Drawing] = {}
        self.observer = None  # web/ops.py's EdgeObserver: outcomes to /metrics and the ops page

    def connections(self) -> int:
        return len(self._drawings)

    def _record(self, outcome: str, latency_s: float | None = None, batch_size: int | None = None) -> None:
        if self.observer is not None:
            self.observer.record("socket", outcome, latency_s, batch_size)

    # -- connection lifecycle
    def connect(self, sid: str) -> None:
        s = self.settings
        with self._lock:
            # kombu's bucket: socket_max_messages_per_s tokens a second, socket_burst saved up, one per event
            self._drawings[sid] = Drawing(TokenBucket(s.socket_max_messages_per_s, s.socket_burst))
        CONNECTED_CLIENTS.inc()

    def disconnect(self, sid: str) -> None:
        with self._lock:
            d = self._drawings.pop(sid, None)
        LOG_LIMIT.forget(sid)
        if d is not None:
            CONNECTED_CLIENTS.dec()
            self.bridge.publisher.forget(d.drawing_id)

    def drawing(self, sid: str) -> Drawing:
        d = self._drawings.get(sid)  # one dict read is atomic: no lock on every event's path
        if d is None:
            raise EventError("not_connected", "this connection has no drawing; reconnect")
        return d

    def ink(self, d: Drawing) -> list[list[list[float]]]:
        """A copy of the drawing's strokes, taken under the sessions' lock (a stroke may be arriving)."""
        with self._lock:
            return [list(st) for st in d.strokes]

    def shows(self, sid: str, seq) -> bool:
        """Whether ``seq`` is the newest answer this connection was sent (False when it is gone)."""
        with self._lock:
            d = self._drawings.get(sid)
            return d is not None and seq == d.emitted

    def should_tell(self, sid: str, exc: EventError) -> bool:
        """Every error is sent, except that a flood hears ``rate_limited`` at most once a second."""
        if exc.code != "rate_limited":
            return True
        with self._lock:
            d = self._drawings.get(sid)
            now = time.monotonic()
            if d is None or now - d.limited_at < 1.0:
                return False
            d.limited_at = now
            return True

    # -- checks shared by every event
    def admit(self, sid: str, payload) -> tuple[Drawing, dict]:
        d = self.drawing(sid)
        # kombu's bucket is not thread safe: it need not be, one connection's events are handled in order
        if not d.bucket.can_consume():
            raise EventError("rate_limited", "too many events: slow down (the connection stays open)")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise EventError("invalid_event", "the event payload must be a JSON object")
        text = getattr(PACKET, "chars", None)  # None for a packet with binary attachments: re-encode to find them
        if text is not None and text * JSON_GROWTH <= self.settings.socket_max_payload_bytes:
            return d, payload
        try:
            size = len(json.dumps(payload, separators=(",", ":")))
        except (TypeError, ValueError, RecursionError):  # a binary attachment, or nesting past the limit
            raise EventError("invalid_event", "the payload must be plain JSON: no binary attachments") from None
        if size > self.settings.socket_max_payload_bytes:
            raise EventError(
                "payload_too_large",
                f"the event is {size} bytes; at most {self.settings.socket_max_payload_bytes} are accepted",
            )
        return d, payload

    # -- events
    def stroke(self, sid: str, payload) -> dict:
        s = self.settings
        d, payload = self.admit(sid, payload)
        sid_, points, final = payload.get("id"), payload.get("points"), payload.get("final", False)
        if not _is_int(sid_) or sid_ < 0:
            raise EventError("invalid_event", '"id" must be a non-negative integer (the stroke index)')
        if not isinstance(final, bool):
            raise EventError("invalid_event", '"final" must be true or false')
        if isinstance(points, list) and len(points) > s.socket_max_points_per_message:
            raise EventError("too_many_points", f"at most {s.socket_max_points_per_message} points in one stroke event")
        points = _check_points(points, sid_)
        with self._lock:
            n = len(d.strokes)
            if sid_ == n:  # a new stroke (a missing pen-up of the previous one is implied)
                if n >= s.socket_max_strokes:
                    raise EventError("too_many_strokes", f"at most {s.socket_max_strokes} strokes in one drawing")
                new = True
            elif sid_ == n - 1 and d.open_stroke:
                new = False
            else:
                raise EventError(
                    "invalid_stroke", f"stroke {sid_} is not open: the next stroke is {n} (after undo/clear, recount)"
                )
            if d.points + len(points) > s.socket_max_points_per_drawing:
                raise EventError("too_many_points", f"at most {s.socket_max_points_per_drawing} points in one drawing")
            if new:
                d.strokes.append([])
            d.strokes[sid_].extend(points)
            d.points += len(points)
            d.open_stroke = not final
            if not final:
                return {"ok": True}
            d.seq += 1
            seq, ink = d.seq, [list(st) for st in d.strokes]
        self._recognize(sid, d, seq, ink)
        return {"ok": True, "seq": seq}

    def undo(self, sid: str, payload) -> dict:
        d, payload = self.admit(sid, payload)
        with self._lock:
            if d.strokes:
                d.points -= len(d.strokes.pop())
            d.open_stroke = False
            d.seq += 1
            d.floor = seq = d.seq
            ink = [list(st) for st in d.strokes]
        if ink:
            self._recognize(sid, d, seq, ink)
        return {"ok": True, "seq": seq}

    def clear(self, sid: str, payload) -> dict:
        d, payload = self.admit(sid, payload)
        with self._lock:
            d.strokes, d.points, d.open_stroke = [], 0, False
            d.seq += 1
            d.floor = seq = d.seq
            d.started.clear()
        return {"ok": True, "seq": seq}

    # -- jobs
    def _answer_now(self, d: Drawing, seq: int, code: str, message: str) -> EventError:
        """``seq`` is answered by an error from the edge itself: older answers become stale."""
        with self._lock:
            d.emitted = max(d.emitted, seq)
        self._record(code)
        return EventError(code, message, seq)

    def _recognize(self, sid: str, d: Drawing, seq: int, ink: list) -> None:
        t0 = time.perf_counter()
        try:
            admit(self.bridge, {"strokes": ink})
            job = RecognizeJob(
                ink={"strokes": ink},
                drawing_id=d.drawing_id,
                seq=seq,
                top_k=self.settings.socket_top_k,
                reply_to=self.bridge.edge_id,
                deadline=time.time() + self.settings.request_timeout_s,
                meta={"sid": sid, "source": "socket", "seq": seq},
            )
            with self._lock:
                d.started[seq] = t0
                while len(d.started) > 64:  # answers that never came (expired, superseded)
                    d.started.pop(next(iter(d.started)))
            log.debug("job published", extra={"job_id": job.job_id, "conn_id": sid, "drawing_id": d.drawing_id})
            publish(self.bridge, job)
        except Refused as exc:
            raise self._answer_now(d, seq, exc.code, exc.message) from None

    def on_bus_event(self, body: dict) -> None:
        """Bridge listener: route a worker's answer to its connection, unless it is stale."""
        meta = body.get("meta") if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            return
        sid, seq = meta.get("sid"), meta.get("seq", body.get("seq"))
        if meta.get("source") != "socket" or not isinstance(sid, str) or not _is_int(seq):
            return
        with self._lock:
            d = self._drawings.get(sid)
            if d is None or seq <= d.emitted or seq < d.floor:
                return
            d.emitted = seq
            t0 = d.started.pop(seq, None)
            for old in [k for k in d.started if k < seq]:
                del d.started[old]
        log.debug("answer routed", extra={"job_id": body.get("job_id"), "conn_id": sid, "type": body.get("type")})
        if body.get("type") == "prediction":
            latency = round((time.perf_counter() - t0) * 1000, 3) if t0 is not None else None
            batch = (body.get("timings") or {}).get("batch_size")
            self._record("ok", latency / 1000 if latency is not None else None, batch)
            if self.observer is not None:
                self.observer.seen_model(body.get("model"))
            payload = {
                "seq": seq,
                "top": body["top"],
                "shape": body.get("shape"),
                "model": body["model"],
                "latency_ms": latency,
                "stages_ms": stages_ms(body),
            }
            self.socketio.emit("prediction", payload, to=sid)
        else:
            err = {"code": body.get("code", "internal_error"), "message": body.get("message", ""), "seq": seq}
            self._record(err["code"])
            self.socketio.emit("error", err, to=sid)


def _ms(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def stages_ms(body: dict, now: float | None = None) -> dict | None:
    """Where a prediction's time went, from the event's own stamps (edge and worker clocks; on one host
    exact, across hosts as good as their clock sync): ``queue`` job created -> a worker took it
    (publish, broker, waiting for the batch before it), ``compute`` that batch's rendering and
    inference, ``reply`` event produced -> emitted here, ``batch`` its size. None for events without them."""
    t = body.get("timings")
    created, produced = body.get("created_at"), body.get("produced_at")
    if not isinstance(t, dict) or not (_ms(created) and _ms(produced) and _ms(t.get("queue_ms"))):
        return None
    now = time.time() if now is None else now
    queue = t["queue_ms"]
    return {
        "queue": round(queue, 2),
        "compute": round(max(0.0, (produced - created) * 1000 - queue), 2),
        "reply": round(max(0.0, (now - produced) * 1000), 2),
        "batch": t.get("batch_size") if _is_int(t.get("batch_size")) else None,
    }


def register_socket_handlers(socketio: SocketIO, bridge, settings: Settings) -> DrawingSessions:
    """Wire the drawing protocol onto ``socketio`` and the bridge's answers back to the clients."""
    # Events of one connection must be handled in order (points of a stroke, then its pen-up): handle
    # them on the connection's reader instead of a task per event. Other connections are unaffected.
    socketio.server.async_handlers = False
    # Above this the transport drops the connection; below it, oversize events get `payload_too_large`.
    socketio.server.eio.max_http_buffer_size = max(settings.socket_max_frame_bytes, settings.socket_max_payload_bytes)
    sessions = DrawingSessions(socketio, bridge, settings)
    bridge.add_listener(sessions.on_bus_event)

    # The drawing events go straight to python-socketio's server, not through Flask-SocketIO's wrapper:
    # that wrapper builds a Flask app and request context for every event (URL matching included),
    # which py-spy showed as a large share of the edge's CPU (docs/WEB.md). These handlers need no
    # Flask context: they get the sid as an argument and emit through the server.
    def guarded(name, fn):
        def handler(sid, payload=None, *_extra):
            try:
                return fn(sid, payload)
            except EventError as exc:
                if sessions.should_tell(sid, exc):
                    socketio.emit("error", exc.payload(), to=sid)
                return {"ok": False, **exc.payload()}
            except Exception:
                ok, suppressed = LOG_LIMIT.allow(sid)  # one connection's repeated failure costs a few lines
                if ok:
                    log.exception("socket event %s failed", name, extra={"conn_id": sid, "suppressed": suppressed})
                socketio.emit("error", {"code": "internal_error", "message": "the edge failed on that event"}, to=sid)
                return {"ok": False, "code": "internal_error"}

        handler.__name__ = f"on_{name}"
        return handler

    for name, fn in (("stroke", sessions.stroke), ("undo", sessions.undo), ("clear", sessions.clear)):
        socketio.server.on(name, guarded(name, fn), namespace="/")

    @socketio.on("connect")
    def _connect(_auth=None):
        sessions.connect(request.sid)

    @socketio.on("disconnect")
    def _disconnect(*_reason):
        sessions.disconnect(request.sid)

    @socketio.on("*")
    def _unknown(event, *_args):
        try:
            sessions.admit(request.sid, None)
            raise EventError("unknown_event", f"unknown event {str(event)[:64]!r}: use stroke, undo or clear")
        except EventError as exc:
            if sessions.should_tell(request.sid, exc):
                socketio.emit("error", exc.payload(), to=request.sid)
            return {"ok": False, **exc.payload()}

    return sessions
