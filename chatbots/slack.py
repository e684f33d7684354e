"""Slack front end: the slash-command endpoint (HTTP, signed), Socket Mode, and a poster for bus events.

Slash commands must be acknowledged within 3 s, so the endpoint verifies the signature, answers at
once, and posts the real reply to the request's ``response_url`` from a background task.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import parse_qs

from flask import Blueprint, current_app, jsonify, request
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from chatbots.core import ChatCore, Reply
from foundation.http_errors import error_response
from foundation.safejson import bounded_int
from foundation.settings import Settings

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
    twin = event.get("looked_like")
    if event.get("correct"):  # a good target that is also another character's shape says so, not "wrong"
        verdict = f"✅ correct (one shape: {event.get('target')} / {twin})" if twin else "✅ correct"
    else:
        verdict = f"❌ looked like {twin or '?'}"
    fields = [("Target", str(event.get("target"))), ("Result", verdict), ("Streak", str(event.get("streak", 0)))]
    fields.append(("Confidence", f"{round(100 * float(event.get('confidence') or 0))}%"))
    if event.get("recorded") is False:
        fields.append(("Saved", "no: the progress store is unavailable"))
    return Reply(title=f"{event.get('learner') or 'guest'} practised {event.get('target')}", text=event.get("hint", ""),
                 fields=fields)  # fmt: skip


# -- verification
SLACK_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class ReplayGuard:
    """Signed requests seen within the replay window: each is accepted once (per edge process).

    Entries expire in insertion order, so the oldest are always at the front."""

    def __init__(self, window_s: float = MAX_AGE_S, max_entries: int = 100_000):
        self.window_s, self.max_entries = window_s, max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            if len(self._seen) >= self.max_entries:
                self._seen.popitem(last=False)
            self._seen[key] = now + self.window_s
            return True


def request_age(ts: str | None, now: float | None) -> float | None:
    """Seconds between a signed request's timestamp header and now; None if it is not a Unix time."""
    seconds = bounded_int(ts)
    return None if seconds is None else abs((time.time() if now is None else now) - seconds)


def verify(secret: str, headers, body: bytes, now: float | None = None) -> tuple[int, str, str] | None:
    """None if the request is Slack's; else (HTTP status, code, message). Constant-time comparison.
    Header values are checked for shape before any conversion or comparison."""
    ts, sig = headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
    if not ts or not sig:
        return 400, "missing_signature", "X-Slack-Request-Timestamp and X-Slack-Signature are required"
    age = request_age(ts, now)
    if age is None or not SLACK_SIGNATURE.fullmatch(sig):
        return 401, "bad_signature", "X-Slack-Request-Timestamp must be Unix seconds and X-Slack-Signature v0=<hex>"
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


def replay_guard(name: str) -> ReplayGuard:
    """The app's guard for one chat service (created with the app's first signed request)."""
    return current_app.extensions.setdefault(f"inkbus.{name}_replays", ReplayGuard())


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
    reply = core.handle(form.get("text") or "help", account=slack_account(form), user=form.get("user_id"))
    post(url, {"response_type": "ephemeral", "text": reply.as_text(), "blocks": reply_blocks(reply)})


def slack_account(form: dict) -> str | None:
    """The caller's Slack account (workspace and user id: ids, not the user name anyone can change)."""
    user = form.get("user_id")
    return f"slack:{form.get('team_id') or '-'}:{user}"[:160] if user else None


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
    if not replay_guard("slack").first_time(request.headers["X-Slack-Signature"]):
        return error_response(401, "replayed_request", "this signed request was already handled")
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
        reply = core.handle(form.get("text") or "help", account=slack_account(form), user=form.get("user_id"))
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
