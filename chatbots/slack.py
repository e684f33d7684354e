"""Slack front end: the slash-command endpoint (HTTP, signed), Socket Mode, and a poster for bus events.

Slash commands must be acknowledged within 3 s, so the endpoint verifies the signature, answers at
once, and posts the real reply to the request's ``response_url`` from a background task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from flask import Blueprint, current_app, jsonify, request
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from chatbots.core import ChatCore, Reply
from inkbus.http_errors import error_response
from inkbus.settings import Settings

log = logging.getLogger("inkbus.slack")
MAX_AGE_S = 300  # Slack's replay window: older signed requests are rejected

bp = Blueprint("slack", __name__)


# -- rendering
def reply_blocks(reply: Reply) -> list[dict]:
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": reply.title[:150]}}]
    if reply.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": reply.text[:3000]}})
    fields = [{"type": "mrkdwn", "text": f"*{n}*\n{v}"[:2000]} for n, v in reply.fields]
    for i in range(0, len(fields), 10):  # Slack allows 10 fields per section
        blocks.append({"type": "section", "fields": fields[i : i + 10]})
    return blocks


def event_reply(event: dict) -> Reply | None:
    """A bus event as a chat message: practice feedback and alerts; free-drawing hints stay on the page."""
    if event.get("type") == "alert":
        return Reply(
            title=f"[{event.get('level', 'warning')}] {event.get('title', 'alert')}", text=event.get("text", "")
        )
    if event.get("type") != "feedback" or event.get("mode") != "practice":
        return None
    verdict = "✅ correct" if event.get("correct") else f"❌ looked like {event.get('looked_like') or '?'}"
    fields = [("Target", str(event.get("target"))), ("Result", verdict), ("Streak", str(event.get("streak", 0)))]
    fields.append(("Confidence", f"{round(100 * float(event.get('confidence') or 0))}%"))
    return Reply(title=f"{event.get('learner') or 'guest'} practised {event.get('target')}", text=event.get("hint", ""),
                 fields=fields)  # fmt: skip


# -- verification
def verify(secret: str, headers, body: bytes, now: float | None = None) -> tuple[int, str, str] | None:
    """None if the request is Slack's; else (HTTP status, code, message). Constant-time comparison."""
    ts, sig = headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
    if not ts or not sig:
        return 400, "missing_signature", "X-Slack-Request-Timestamp and X-Slack-Signature are required"
    try:
        age = abs((time.time() if now is None else now) - int(ts))
    except ValueError:
        return 400, "invalid_signature", "X-Slack-Request-Timestamp must be an integer"
    if age > MAX_AGE_S:
        return 401, "stale_request", "the request timestamp is older than 5 minutes"
    verifier = SignatureVerifier(secret, clock=_Clock(now))
    try:
        ok = verifier.is_valid(body=body, timestamp=ts, signature=sig)  # HMAC-SHA256, hmac.compare_digest
    except UnicodeDecodeError:
        ok = False
    if not ok:
        return 401, "bad_signature", "the request signature does not match"
    return None


class _Clock:
    def __init__(self, now: float | None):
        self._now = now

    def now(self) -> float:
        return time.time() if self._now is None else self._now


# -- the slash-command endpoint (served by the edge)
def answer_command(core: ChatCore, settings: Settings, form: dict, post: Callable[[str, dict], None]) -> None:
    """Run a slash command and post its reply to ``response_url`` (only a Slack one, never anywhere else)."""
    url = form.get("response_url", "")
    if not url.startswith(settings.slack_response_url_prefix):
        log.warning("slash command with a response_url outside %s ignored", settings.slack_response_url_prefix)
        return
    reply = core.handle(form.get("text") or "help", learner=_learner(form), user=form.get("user_id"))
    post(url, {"response_type": "ephemeral", "text": reply.as_text(), "blocks": reply_blocks(reply)})


def _learner(form: dict) -> str | None:
    return (form.get("user_name") or "")[:64] or None


def _post_response(url: str, payload: dict) -> None:
    res = WebhookClient(url, timeout=10).send_dict(payload)
    if res.status_code >= 300:
        log.warning("response_url answered %s", res.status_code)


@bp.post("/api/v1/slack/commands")
def slack_command():
    settings = current_app.config["INKBUS"]
    secret = settings.slack_signing_secret.get_secret_value()
    if not secret:
        return error_response(404, "slack_disabled", "Slack is not configured (INKBUS_SLACK_SIGNING_SECRET)")
    body = request.get_data(cache=False)
    problem = verify(secret, request.headers, body)
    if problem:
        return error_response(*problem)
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    core = current_app.extensions["inkbus.chat"]
    post = current_app.extensions.get("inkbus.slack_post", _post_response)
    spawn = current_app.extensions["inkbus.socketio"].start_background_task
    spawn(_safe, answer_command, core, settings, form, post)
    return jsonify({"response_type": "ephemeral", "text": f"On it: `{(form.get('text') or 'help')[:100]}`"})


def _safe(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("slash command failed")


# -- Socket Mode (an alternative to the public HTTP endpoint)
def socket_mode_listener(core: ChatCore):
    """A SocketModeClient listener: slash commands answered in the ack itself (no response_url needed)."""
    from slack_sdk.socket_mode.response import SocketModeResponse

    def listener(client, req) -> None:
        if req.type != "slash_commands":
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        form = req.payload
        reply = core.handle(form.get("text") or "help", learner=_learner(form), user=form.get("user_id"))
        payload = {"response_type": "ephemeral", "text": reply.as_text(), "blocks": reply_blocks(reply)}
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))

    return listener


# -- bus events into a channel
class SlackPoster:
    def __init__(self, settings: Settings, client: WebClient | None = None):
        self.channel = settings.slack_channel
        self.client = client or WebClient(
            token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url, timeout=10
        )

    def __call__(self, event: dict) -> None:
        reply = event_reply(event)
        if reply is not None:
            self.client.chat_postMessage(channel=self.channel, text=reply.as_text(), blocks=reply_blocks(reply))
