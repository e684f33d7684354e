"""The chat command core, POST /api/v1/chat, Slack (signed slash commands, Web API stand-in) and Discord."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from nacl.signing import SigningKey

from chatbots.core import ChatCore
from chatbots.status import LiveStatus
from tests.helpers import wait_until
from tests.standins import StandIn
from tutor.store import open_store
from web.app import create_app

INK = {"strokes": [[[0, 0], [10, 40]]]}


@pytest.fixture
def store(settings):
    s = open_store(settings, "sqlite://")
    s.record_attempt(job_id="j1", learner="ann", target="4", predicted="9", confidence=0.8, correct=False, ink=INK)
    s.record_attempt(job_id="j2", learner="ann", target="4", predicted="4", confidence=0.9, correct=True, ink=INK)
    yield s
    s.close()


@pytest.fixture
def core(store):
    status = LiveStatus(lambda: (3, 2))
    status.observe({"type": "prediction", "model": "inknet-t", "created_at": 1.0, "produced_at": 1.02})
    return ChatCore(store, status, admins={"U-ADMIN"})


def test_commands_answer_with_titles_and_fields(core):
    assert "practice [char]" in dict(core.handle("help").fields)
    assert "forget <learner>" not in dict(core.handle("help").fields)
    assert "forget <learner>" in dict(core.handle("help", user="U-ADMIN").fields)
    r = core.handle("practice q")
    assert r.ok and r.data == {"target": "q"} and "o, then a line down" in dict(r.fields)["How"]
    assert core.handle("practice", learner="ann").data == {"target": "4"}  # the one ann misses
    assert "keep the top open" in dict(core.handle("hint 4").fields)["Not a 9"]
    s = core.handle("stats", learner="ann")
    assert dict(s.fields)["Attempts"] == "2" and dict(s.fields)["Correct"] == "1 (50%)"
    assert core.handle("stats ann", user="U-ADMIN").data["streak"] == 1  # admins may name a learner
    st = dict(core.handle("status").fields)
    assert st["Workers consuming"] == "2" and st["Jobs queued"] == "3" and st["Model"] == "inknet-t"
    assert st["Recent p95 latency"].startswith("20 ms")
    assert dict(core.handle("queue").fields) == {"Jobs queued": "3", "Workers consuming": "2"}


def test_bad_input_and_ops_commands_get_codes(core, store):
    assert core.handle("").code == "empty_command"
    assert core.handle("dance").code == "unknown_command"
    assert core.handle("hint ?").code == "invalid_char" and core.handle("hint").code == "invalid_char"
    assert core.handle("x" * 501).code == "command_too_long"
    assert core.handle("stats", learner="bad name").code == "invalid_learner"
    assert core.handle("forget ann").code == "forbidden"
    assert core.handle("store", user="U-ADMIN").data["attempts"] == 2
    assert core.handle("correct q", learner="ann").data["attempt_id"] == 2
    assert core.handle("correct q", learner="nobody").code == "no_attempt"
    assert core.handle("forget ann", user="U-ADMIN").data["deleted"] == 3
    assert ChatCore(None, core.status).handle("stats").code == "store_unavailable"


@pytest.fixture
def app(settings, store):
    s = settings.model_copy(
        update={
            "slack_signing_secret": type(settings.slack_signing_secret)("shh"),
            "slack_response_url_prefix": "http://127.0.0.1:",
            "discord_public_key": SIGNING_KEY.verify_key.encode().hex(),
        }
    )
    app, _ = create_app(s, broker_url="memory://", start_bridge=False, store=store)
    return app


def as_learner(http, learner: str) -> None:
    """Give a test client the signed identity cookie of ``learner`` (as the edge would have issued it)."""
    with http.session_transaction() as sess:
        sess["learner"] = learner


def test_the_chat_api(app):
    http = app.test_client()
    as_learner(http, "ann")
    res = http.post("/api/v1/chat", json={"text": "stats"})
    assert res.status_code == 200 and res.get_json()["reply"]["title"] == "Progress of ann"
    assert res.get_json()["reply"]["fields"][0] == {"name": "Attempts", "value": "2"}
    assert http.post("/api/v1/chat", json={"text": "nope"}).get_json()["reply"]["code"] == "unknown_command"
    assert http.post("/api/v1/chat", data="{", content_type="application/json").status_code == 400
    assert http.post("/api/v1/chat", json={"text": 3}).get_json()["error"]["code"] == "invalid_request"
    assert http.post("/api/v1/chat", json={"text": "forget bob"}).get_json()["reply"]["code"] == "forbidden"


def slack_headers(body: str, secret="shh", ts=None):
    ts = str(int(time.time() if ts is None else ts))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sig,
        "content-type": "application/x-www-form-urlencoded",
    }


def test_slack_slash_commands_are_verified_acked_and_answered_via_response_url(app):
    hooks = StandIn()
    try:
        code = app.extensions["inkbus.store"].new_link_code("ann", 60)  # ann's page said `link`
        form = {"user_id": "U1", "team_id": "T1", "user_name": "ann", "response_url": hooks.url + "/r/0"}
        body = urlencode({**form, "text": f"link {code}"})
        http = app.test_client()
        assert http.post("/api/v1/slack/commands", data=body, headers=slack_headers(body)).status_code == 200
        wait_until(lambda: hooks.calls("/r/0"), 10, what="the link reply")
        assert hooks.calls("/r/0")[0]["body"]["blocks"][0]["text"]["text"] == "Linked"
        body = urlencode({**form, "text": "stats", "response_url": hooks.url + "/r/1"})
        good = http.post("/api/v1/slack/commands", data=body, headers=slack_headers(body))
        assert good.status_code == 200 and good.get_json()["response_type"] == "ephemeral"
        tampered = http.post("/api/v1/slack/commands", data=body + "x", headers=slack_headers(body))
        stale = http.post("/api/v1/slack/commands", data=body, headers=slack_headers(body, ts=time.time() - 301))
        missing = http.post("/api/v1/slack/commands", data=body)
        assert [tampered.status_code, stale.status_code, missing.status_code] == [401, 401, 400]
        assert stale.get_json()["error"]["code"] == "stale_request"
        deadline = time.time() + 10
        while not hooks.calls("/r/1") and time.time() < deadline:
            time.sleep(0.05)
        [call] = hooks.calls("/r/1")
        assert call["body"]["blocks"][0]["text"]["text"] == "Progress of ann" and "Attempts: 2" in call["body"]["text"]
    finally:
        hooks.close()


def test_slack_is_off_without_a_signing_secret(settings, store):
    app, _ = create_app(settings, broker_url="memory://", start_bridge=False, store=store)
    assert app.test_client().post("/api/v1/slack/commands", data="a=b").get_json()["error"]["code"] == "slack_disabled"


def test_the_slack_poster_posts_practice_feedback_and_alerts_through_the_web_api(settings):
    from slack_sdk import WebClient

    from chatbots.slack import SlackPoster

    api = StandIn()
    try:
        poster = SlackPoster(
            settings.model_copy(update={"slack_channel": "C1"}), WebClient("t", base_url=api.url + "/")
        )
        feedback = {"type": "feedback", "mode": "practice", "learner": "ann", "target": "4", "correct": False,
                    "looked_like": "9", "hint": "keep the top open", "streak": 0, "confidence": 0.8}  # fmt: skip
        poster(feedback)
        poster({**feedback, "mode": "free"})  # free hints stay on the page
        poster({"type": "alert", "level": "error", "title": "A recognition batch failed", "text": "boom"})
        calls = api.calls("/chat.postMessage")
        assert len(calls) == 2 and calls[0]["body"]["channel"] == "C1"
        assert "ann practised 4" in calls[0]["body"]["text"] and "keep the top open" in calls[0]["body"]["text"]
        assert "[error] A recognition batch failed" in calls[1]["body"]["text"]
    finally:
        api.close()


def test_slack_socket_mode_answers_in_the_ack(core):
    from chatbots.slack import socket_mode_listener

    sent = []
    client = SimpleNamespace(send_socket_mode_response=sent.append)
    req = SimpleNamespace(type="slash_commands", envelope_id="e1", payload={"text": "hint 4", "user_name": "ann"})
    socket_mode_listener(core)(client, req)
    assert sent[0].envelope_id == "e1" and sent[0].payload["blocks"][0]["text"]["text"] == "Writing 4"


SIGNING_KEY = SigningKey.generate()


def discord_post(http, payload, ts=None, key=SIGNING_KEY, tamper=False):
    body = json.dumps(payload)
    ts = str(int(time.time()) if ts is None else ts)
    sig = key.sign((ts + body).encode()).signature.hex()
    data = body + (" " if tamper else "")
    headers = {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": ts}
    return http.post("/api/v1/discord/interactions", data=data, headers=headers, content_type="application/json")


def test_discord_http_interactions_are_ed25519_verified(app):
    http = app.test_client()
    assert discord_post(http, {"type": 1}).get_json() == {"type": 1}
    store = app.extensions["inkbus.store"]
    assert store.redeem_link_code(store.new_link_code("ann", 60), "discord:1") == "ann"
    cmd = {"type": 2, "data": {"name": "stats", "options": []}, "member": {"user": {"id": "1", "username": "x"}}}
    res = discord_post(http, cmd).get_json()
    assert res["type"] == 4 and res["data"]["embeds"][0]["title"] == "Progress of ann"
    assert discord_post(http, cmd, tamper=True).status_code == 401
    assert discord_post(http, cmd, ts=time.time() - 400).status_code == 401
    assert discord_post(http, cmd, key=SigningKey.generate()).status_code == 401
    assert http.post("/api/v1/discord/interactions", json=cmd).status_code == 400


def test_discord_app_commands_and_channel_posts_against_a_rest_stand_in(core, store, monkeypatch):
    import discord

    from chatbots.discord_bot import InkbusDiscord

    me = {"id": "42", "username": "inkbus", "discriminator": "0", "avatar": None}
    app_info = {"id": "42", "name": "inkbus", "description": "", "bot_public": True, "bot_require_code_grant": False,
                "verify_key": "00", "icon": None, "flags": 0, "owner": me}  # fmt: skip
    message = {"id": "1", "channel_id": "777", "type": 0, "content": "", "author": me, "embeds": [],
               "attachments": [], "mentions": [], "mention_roles": [], "pinned": False, "mention_everyone": False,
               "tts": False, "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": None, "flags": 0,
               "components": []}  # fmt: skip
    api = StandIn(
        {
            "/users/@me": me,
            "/applications/@me": app_info,
            "/commands": [],  # the command sync on login
            "/callback": {"interaction": {"id": "900", "type": 2}},
            "/messages": message,
        }
    )
    monkeypatch.setattr(discord.http.Route, "BASE", api.url + "/api/v10")
    store.redeem_link_code(store.new_link_code("ann", 60), "discord:123")  # user 123 practises as ann

    async def scenario():
        client = InkbusDiscord(core, channel_id=777)
        await client.login("token")  # GET /users/@me on the stand-in
        data = {"id": "900", "application_id": "42", "type": 2, "token": "itok", "version": 1,
                "channel_id": "5", "data": {"id": "1", "name": "stats", "type": 1}, "attachment_size_limit": 8388608,
                "user": {"id": "123", "username": "ann", "discriminator": "0", "avatar": None}}  # fmt: skip
        await client.tree.get_command("stats").callback(
            discord.Interaction(data=data, state=client._connection), learner=None
        )
        await client.tree.get_command("hint").callback(
            discord.Interaction(data={**data, "id": "901"}, state=client._connection), char="4"
        )
        await client.post_event({"type": "alert", "level": "error", "title": "down", "text": "x"})
        await client.close()

    asyncio.run(scenario())
    try:
        [stats] = api.calls("/interactions/900/itok/callback")
        assert stats["body"]["type"] == 4 and stats["body"]["data"]["embeds"][0]["title"] == "Progress of ann"
        [hint] = api.calls("/interactions/901/itok/callback")
        assert hint["body"]["data"]["embeds"][0]["title"] == "Writing 4"
        [post] = api.calls("/channels/777/messages")
        assert post["body"]["embeds"][0]["title"] == "[error] down"
    finally:
        api.close()


def test_practice_feedback_in_chat_names_the_shape_of_a_good_twin():
    from chatbots.slack import event_reply

    base = {"type": "feedback", "mode": "practice", "learner": "zoe", "target": "0", "confidence": 0.97, "streak": 2}
    good = event_reply({**base, "correct": True, "looked_like": "O", "hint": "a good 0"})
    assert dict(good.fields)["Result"] == "✅ correct (one shape: 0 / O)" and good.text == "a good 0"
    plain = event_reply({**base, "correct": True, "looked_like": None})
    assert dict(plain.fields)["Result"] == "✅ correct"
    miss = event_reply({**base, "correct": False, "looked_like": "8"})
    assert dict(miss.fields)["Result"] == "❌ looked like 8"
    assert event_reply({**base, "mode": "free"}) is None
