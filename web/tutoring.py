"""Tutoring at the edge: the ``check`` Socket.IO event (grade my drawing), ``feedback`` emits, ``POST /api/v1/chat``.

A practice check publishes a job of the connection's current drawing with ``meta.mode = "practice"``,
its target, the connection's learner (its signed identity, web/identity.py) and the ink (so the feedback
engine can store the attempt). The feedback engine answers with ``feedback.<edge id>``; the bridge hands it
to ``on_bus_event``, which emits it to the session.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, jsonify, request
from flask_socketio import SocketIO

from bus.schemas import RecognizeJob
from chatbots.core import ChatCore
from chatbots.status import LiveStatus
from foundation.safejson import BodyError, load_body, require_json
from tutor.chars import CHARSET
from web.admission import Refused, admit, publish
from web.errors import error_response
from web.identity import current_learner
from web.sockets import DrawingSessions, EventError

log = logging.getLogger("inkbus.tutoring")
bp = Blueprint("tutoring", __name__)
CHAT_MAX_BYTES = 8 * 1024  # a chat command is a line of text
PRACTICE_TOP_K = 10  # enough labels to know the target's probability in most misses
FEEDBACK_FIELDS = (
    "job_id", "mode", "learner", "target", "predicted", "confidence", "correct", "looked_like", "hint", "tip",
    "streak", "attempt_id", "recorded", "model", "latency_ms",
)  # fmt: skip


@bp.post("/api/v1/chat")
def chat():
    try:
        require_json(request.content_type)
        body = load_body(request.get_data(cache=False), CHAT_MAX_BYTES)
    except BodyError as exc:
        return error_response(exc.status, exc.code, f'{exc.message} (send JSON: {{"text": "help"}})')
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return error_response(422, "invalid_request", 'send {"text": "<command>"}')
    core: ChatCore = current_app.extensions["inkbus.chat"]
    # The caller is the session's learner (web/identity.py); a "learner" field in the body names nobody.
    # The web panel is never an admin (no ``user``).
    return jsonify({"reply": core.handle(body["text"], learner=current_learner()).to_dict()})


class Tutoring:
    def __init__(self, socketio: SocketIO, bridge, sessions: DrawingSessions, status: LiveStatus):
        self.socketio, self.bridge, self.sessions, self.status = socketio, bridge, sessions, status

    def check(self, sid: str, payload, learner: str) -> dict:
        """Grade the drawing ``sid`` holds for ``learner``: the connection's own identity, never a typed name."""
        d, payload = self.sessions.admit(sid, payload)
        target = payload.get("target")
        if not isinstance(target, str) or target not in CHARSET:
            raise EventError("invalid_target", "pick one character to practise: 0–9, A–Z or a–z")
        ink = self.sessions.ink(d)
        try:
            admit(self.bridge, {"strokes": ink})
        except Refused as exc:
            raise EventError(exc.code, exc.message) from None
        s = self.sessions.settings
        job = RecognizeJob(
            ink={"strokes": ink},
            top_k=PRACTICE_TOP_K,
            target=target,
            reply_to=self.bridge.edge_id,
            deadline=time.time() + s.request_timeout_s,
            meta={"sid": sid, "source": "practice", "mode": "practice", "target": target, "learner": learner,
                  "ink": {"strokes": ink}},
        )  # fmt: skip
        try:
            publish(self.bridge, job)
        except Refused as exc:
            raise EventError(exc.code, exc.message) from None
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
            if not self.sessions.shows(sid, meta.get("seq")):
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
            return tutoring.check(sid, payload, current_learner())
        except EventError as exc:
            return {"ok": False, **exc.payload()}
        except Exception:
            log.exception("socket event check failed")
            return {"ok": False, "code": "internal_error", "message": "the edge failed on that check"}

    socketio.on_event("check", on_check)
    return tutoring
