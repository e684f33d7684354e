"""Tutoring at the edge: the ``check`` Socket.IO event (grade my drawing), ``feedback`` emits, ``POST /api/v1/chat``.

A practice check publishes a job of the connection's current drawing with ``meta.mode = "practice"``,
its target, the learner and the ink (so the feedback engine can store the attempt). The feedback engine
answers with ``feedback.<edge id>``; the bridge hands it to ``on_bus_event``, which emits it to the session.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, current_app, jsonify, request
from flask_socketio import SocketIO

from bus.schemas import RecognizeJob
from chatbots.core import LEARNER, ChatCore
from chatbots.status import LiveStatus
from ml.ink import InkError, is_degenerate, validate_ink
from producers.publisher import BusUnavailable
from tutor.chars import CHARSET
from web.errors import error_response
from web.sockets import DrawingSessions, EventError

log = logging.getLogger("inkbus.tutoring")
bp = Blueprint("tutoring", __name__)
PRACTICE_TOP_K = 10  # enough labels to know the target's probability in most misses
FEEDBACK_FIELDS = (
    "job_id", "mode", "learner", "target", "predicted", "confidence", "correct", "looked_like", "hint", "tip",
    "streak", "attempt_id", "model", "latency_ms",
)  # fmt: skip


@bp.post("/api/v1/chat")
def chat():
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "invalid_json", 'the body must be JSON: {"text": "help"}')
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return error_response(422, "invalid_request", 'send {"text": "<command>", "learner": "<name>"}')
    learner = body.get("learner")
    if learner is not None and not isinstance(learner, str):
        return error_response(422, "invalid_request", '"learner" must be a string')
    core: ChatCore = current_app.extensions["inkbus.chat"]
    # The web panel is anonymous: it never gets the admin-only commands (no ``user``).
    return jsonify({"reply": core.handle(body["text"], learner=learner or None).to_dict()})


class Tutoring:
    def __init__(self, socketio: SocketIO, bridge, sessions: DrawingSessions, status: LiveStatus):
        self.socketio, self.bridge, self.sessions, self.status = socketio, bridge, sessions, status

    def check(self, sid: str, payload) -> dict:
        d, payload = self.sessions.admit(sid, payload)
        target, learner = payload.get("target"), payload.get("learner") or "guest"
        if not isinstance(target, str) or target not in CHARSET:
            raise EventError("invalid_target", "pick one character to practise: 0–9, A–Z or a–z")
        if not isinstance(learner, str) or not LEARNER.match(learner):
            raise EventError("invalid_learner", "a learner name is 1–64 letters, digits or . _ - @")
        with self.sessions._lock:
            ink = [list(st) for st in d.strokes]
        try:
            if is_degenerate(validate_ink({"strokes": ink})):
                raise InkError("degenerate_ink", "that is a single dot: draw the whole character")
        except InkError as exc:
            raise EventError(exc.code, exc.message) from None
        stats = self.bridge.job_queue_stats()
        if stats is None:
            raise EventError("broker_unavailable", "the message broker is unreachable; try again shortly")
        if stats[1] == 0:
            raise EventError("no_workers", "no recognition worker is running; try again shortly")
        s = self.sessions.settings
        job = RecognizeJob(
            ink={"strokes": ink},
            top_k=PRACTICE_TOP_K,
            reply_to=self.bridge.edge_id,
            deadline=time.time() + s.request_timeout_s,
            meta={"sid": sid, "source": "practice", "mode": "practice", "target": target, "learner": learner,
                  "ink": {"strokes": ink}},
        )  # fmt: skip
        try:
            self.bridge.submit(job)
        except BusUnavailable as exc:
            raise EventError("broker_unavailable", str(exc)) from None
        return {"ok": True, "job_id": job.job_id}

    def on_bus_event(self, body: dict) -> None:
        self.status.observe(body)
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        sid = meta.get("sid")
        if not isinstance(sid, str):
            return
        if body.get("type") == "error" and meta.get("mode") == "practice":
            # A check that will get no feedback (bad ink at the worker, a job lost with a broker node):
            # say so with the check's job id instead of leaving the learner waiting.
            payload = {"code": body.get("code"), "message": body.get("message", ""), "job_id": body.get("job_id")}
            self.socketio.emit("error", payload, to=sid)
            return
        if body.get("type") != "feedback":
            return
        payload = {k: body.get(k) for k in FEEDBACK_FIELDS}
        if body.get("mode") == "free":
            # A free-drawing hint is about one guess: only worth showing while that guess is the newest.
            with self.sessions._lock:
                d = self.sessions._drawings.get(sid)
                if d is None or meta.get("seq") != d.emitted:
                    return
            payload["seq"] = meta.get("seq")
        self.socketio.emit("feedback", payload, to=sid)


def register_tutoring(app, socketio: SocketIO, bridge, sessions: DrawingSessions, core: ChatCore) -> Tutoring:
    tutoring = Tutoring(socketio, bridge, sessions, core.status)
    bridge.add_listener(tutoring.on_bus_event)
    app.extensions["inkbus.chat"] = core
    app.register_blueprint(bp)
    # The chat services' HTTP endpoints: off (404 with a code) until their secrets are configured.
    from chatbots.discord_bot import bp as discord_bp
    from chatbots.slack import bp as slack_bp

    app.register_blueprint(slack_bp)
    app.register_blueprint(discord_bp)

    def on_check(payload=None, *_extra):
        sid = request.sid
        try:
            return tutoring.check(sid, payload)
        except EventError as exc:
            return {"ok": False, **exc.payload()}
        except Exception:
            log.exception("socket event check failed")
            return {"ok": False, "code": "internal_error", "message": "the edge failed on that check"}

    socketio.on_event("check", on_check)
    return tutoring
