"""Slack's doors without a web server: request signatures and their replay window, the slash-command answer, Socket
Mode acks, the Web API client and the messages built from bus events."""

from __future__ import annotations

import hashlib
import hmac
import logging
from types import SimpleNamespace

import pytest
from werkzeug.datastructures import Headers

from chatbots.core import Reply
from chatbots.slack import (
    MAX_AGE_S,
    ReplayGuard,
    SlackPoster,
    answer_command,
    event_reply,
    reply_blocks,
    request_age,
    slack_account,
    socket_mode_listener,
    verify,
)

SECRET = "s3cret"
NOW = 1_700_000_000.0  # far from the clock of any test run: only the time given to verify counts
BODY = b"command=%2Finkbus&text=stats&user_id=U1"


def signed(body: bytes = BODY, ts: float = NOW, secret: str = SECRET) -> Headers:
    """The headers Slack sends (case-insensitive, as the edge receives them)."""
    base = b"v0:" + str(int(ts)).encode() + b":" + body
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return Headers({"X-Slack-Request-Timestamp": str(int(ts)), "X-Slack-Signature": sig})


# -- verification


def test_a_request_signed_with_the_secret_at_the_given_time_is_slacks():
    assert verify(SECRET, signed(), BODY, now=NOW) is None


def test_a_request_is_accepted_up_to_exactly_the_replay_window_and_not_after():
    assert verify(SECRET, signed(), BODY, now=NOW + MAX_AGE_S) is None
    assert verify(SECRET, signed(), BODY, now=NOW + MAX_AGE_S + 1) == (
        401, "stale_request", "the request timestamp is older than 5 minutes",
    )  # fmt: skip


@pytest.mark.parametrize("drop", ["X-Slack-Request-Timestamp", "X-Slack-Signature"])
def test_a_request_missing_either_signature_header_is_a_bad_request(drop):
    headers = signed()
    del headers[drop]
    assert verify(SECRET, headers, BODY, now=NOW) == (
        400, "missing_signature", "X-Slack-Request-Timestamp and X-Slack-Signature are required",
    )  # fmt: skip


SHAPE = (401, "bad_signature", "X-Slack-Request-Timestamp must be Unix seconds and X-Slack-Signature v0=<hex>")


def test_a_signature_header_of_the_wrong_shape_is_rejected_before_any_comparison():
    headers = signed()
    headers["X-Slack-Signature"] = "v1=" + "0" * 64
    assert verify(SECRET, headers, BODY, now=NOW) == SHAPE


def test_a_timestamp_that_is_not_unix_seconds_is_rejected():
    headers = signed()
    headers["X-Slack-Request-Timestamp"] = "yesterday"
    assert verify(SECRET, headers, BODY, now=NOW) == SHAPE


MISMATCH = (401, "bad_signature", "the request signature does not match")


def test_a_tampered_body_or_another_secret_does_not_match():
    assert verify(SECRET, signed(), BODY + b"x", now=NOW) == MISMATCH
    assert verify(SECRET, signed(secret="other"), BODY, now=NOW) == MISMATCH


def test_a_body_that_is_not_utf8_never_matches():
    body = b"text=\xff\xfe"
    assert verify(SECRET, signed(body), body, now=NOW) == MISMATCH


def test_a_request_age_is_measured_from_the_given_time_either_way():
    assert request_age(str(int(NOW)), NOW + 12) == 12
    assert request_age(str(int(NOW) + 5), NOW) == 5
    assert request_age("soon", NOW) is None


# -- replays


def test_each_signed_request_is_accepted_once_within_the_window():
    guard = ReplayGuard(window_s=10)
    assert guard.first_time("a", now=100)
    assert not guard.first_time("a", now=109)


def test_a_signature_is_forgotten_when_its_window_ends():
    guard = ReplayGuard(window_s=10)
    assert guard.first_time("a", now=100)
    assert guard.first_time("a", now=110)  # expired at exactly 100 + 10


def test_a_full_guard_forgets_its_oldest_entry_first():
    guard = ReplayGuard(window_s=10, max_entries=2)
    assert guard.first_time("a", now=100) and guard.first_time("b", now=101) and guard.first_time("c", now=102)
    assert not guard.first_time("b", now=103) and not guard.first_time("c", now=103)
    assert guard.first_time("a", now=103)


# -- the slash-command answer


class Core:
    """Records how a command was run and answers with a fixed reply."""

    def __init__(self):
        self.calls = []
        self.reply = Reply(title="Progress of ann", text="two attempts", fields=[("Attempts", "2")])

    def handle(self, text, **who):
        self.calls.append((text, who))
        return self.reply


def settings(prefix="https://hooks.slack.com/"):
    return SimpleNamespace(slack_response_url_prefix=prefix)


FORM = {"user_id": "U1", "team_id": "T1", "text": "stats", "response_url": "https://hooks.slack.com/commands/1"}


def test_a_command_runs_as_the_slack_user_and_its_reply_is_posted_only_to_the_caller():
    core, posted = Core(), []
    answer_command(core, settings(), FORM, lambda url, payload: posted.append((url, payload)))
    assert core.calls == [("stats", {"account": "slack:T1:U1", "user": "U1"})]
    assert posted == [
        (FORM["response_url"], {"response_type": "ephemeral", "text": core.reply.as_text(),
                                "blocks": reply_blocks(core.reply)}),
    ]  # fmt: skip


def test_an_empty_command_is_help():
    core = Core()
    answer_command(core, settings(), {**FORM, "text": ""}, lambda url, payload: None)
    assert core.calls[0][0] == "help"


def test_a_command_without_a_slack_response_url_is_not_answered_and_the_log_says_why(caplog):
    core, posted = Core(), []
    with caplog.at_level(logging.WARNING, "inkbus.slack"):
        answer_command(core, settings(), {**FORM, "response_url": "https://evil.example/x"}, posted.append)
        answer_command(core, settings(), {k: v for k, v in FORM.items() if k != "response_url"}, posted.append)
    assert posted == [] and core.calls == []
    assert [r.getMessage() for r in caplog.records] == [
        "slash command with a response_url outside https://hooks.slack.com/ ignored"
    ] * 2


def test_a_slack_account_is_the_workspace_and_the_user_id():
    assert slack_account({"user_id": "U1", "team_id": "T1"}) == "slack:T1:U1"
    assert slack_account({"user_id": "U1"}) == "slack:-:U1"
    assert slack_account({"team_id": "T1"}) is None
    assert len(slack_account({"user_id": "U" * 500, "team_id": "T1"})) == 160


# -- Socket Mode


def test_socket_mode_acks_other_requests_with_their_envelope_and_no_payload():
    sent = []
    client = SimpleNamespace(send_socket_mode_response=sent.append)
    socket_mode_listener(Core())(client, SimpleNamespace(type="events_api", envelope_id="e9", payload={}))
    assert [(r.envelope_id, r.payload) for r in sent] == [("e9", None)]


def test_socket_mode_runs_a_command_as_the_slack_user_and_answers_in_the_ack():
    core, sent = Core(), []
    client = SimpleNamespace(send_socket_mode_response=sent.append)
    req = SimpleNamespace(type="slash_commands", envelope_id="e1", payload={"user_id": "U1", "team_id": "T1"})
    socket_mode_listener(core)(client, req)
    assert core.calls == [("help", {"account": "slack:T1:U1", "user": "U1"})]
    assert sent[0].envelope_id == "e1"
    assert sent[0].payload == {
        "response_type": "ephemeral", "text": core.reply.as_text(), "blocks": reply_blocks(core.reply),
    }  # fmt: skip


# -- the poster


def poster_settings():
    return SimpleNamespace(
        slack_channel="C1", slack_bot_token=SimpleNamespace(get_secret_value=lambda: "xoxb-1"),
        slack_api_url="https://slack.example/api/",
    )  # fmt: skip


def test_the_poster_talks_to_the_configured_web_api_with_the_bot_token_and_a_timeout():
    client = SlackPoster(poster_settings()).client
    assert (client.token, client.base_url, client.timeout) == ("xoxb-1", "https://slack.example/api/", 10)


def test_the_poster_sends_practice_feedback_as_text_and_blocks_to_its_channel():
    calls = []
    client = SimpleNamespace(chat_postMessage=lambda **kw: calls.append(kw))
    event = {"type": "feedback", "mode": "practice", "learner": "ann", "target": "4", "correct": True}
    SlackPoster(poster_settings(), client)(event)
    reply = event_reply(event)
    assert calls == [{"channel": "C1", "text": reply.as_text(), "blocks": reply_blocks(reply)}]


# -- messages


def test_a_reply_becomes_a_header_a_section_and_fields_ten_to_a_section():
    fields = [(f"n{i}", f"v{i}") for i in range(12)]
    blocks = reply_blocks(Reply(title="T" * 200, text="x" * 4000, fields=fields))
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "T" * 150}}
    assert blocks[1] == {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}
    assert [len(b["fields"]) for b in blocks[2:]] == [10, 2]
    assert blocks[2]["fields"][0] == {"type": "mrkdwn", "text": "*n0*\nv0"}
    assert blocks[3]["fields"][1] == {"type": "mrkdwn", "text": "*n11*\nv11"}


def test_a_reply_without_text_has_no_text_section_and_a_long_field_is_cut():
    blocks = reply_blocks(Reply(title="T", fields=[("n", "v" * 3000)]))
    assert [b["type"] for b in blocks] == ["header", "section"]
    assert blocks[1]["fields"] == [{"type": "mrkdwn", "text": ("*n*\n" + "v" * 3000)[:2000]}]


def test_an_alert_is_titled_with_its_level_and_defaults_to_a_warning():
    assert event_reply({"type": "alert", "level": "error", "title": "Down", "text": "boom"}) == Reply(
        title="[error] Down", text="boom"
    )
    assert event_reply({"type": "alert"}) == Reply(title="[warning] alert", text="")


def test_practice_feedback_is_a_message_and_free_drawing_hints_and_other_events_are_not():
    assert event_reply({"type": "feedback", "mode": "free", "target": "4"}) is None
    assert event_reply({"type": "prediction", "mode": "practice"}) is None


def test_a_practice_miss_names_the_look_alike_streak_confidence_and_an_unsaved_attempt():
    reply = event_reply(
        {"type": "feedback", "mode": "practice", "learner": "ann", "target": "4", "correct": False,
         "looked_like": "9", "hint": "keep the top open", "streak": 3, "confidence": 0.876, "recorded": False}
    )  # fmt: skip
    assert reply == Reply(
        title="ann practised 4", text="keep the top open",
        fields=[("Target", "4"), ("Result", "❌ looked like 9"), ("Streak", "3"), ("Confidence", "88%"),
                ("Saved", "no: the progress store is unavailable")],
    )  # fmt: skip


def test_a_guest_right_answer_and_a_good_twin_are_correct():
    plain = event_reply({"type": "feedback", "mode": "practice", "target": "4", "correct": True})
    assert plain.title == "guest practised 4" and plain.text == ""
    assert dict(plain.fields) == {"Target": "4", "Result": "✅ correct", "Streak": "0", "Confidence": "0%"}
    twin = event_reply({"type": "feedback", "mode": "practice", "target": "0", "correct": True, "looked_like": "O"})
    assert dict(twin.fields)["Result"] == "✅ correct (one shape: 0 / O)"
    miss = event_reply({"type": "feedback", "mode": "practice", "target": "4", "correct": False, "recorded": True})
    assert dict(miss.fields)["Result"] == "❌ looked like ?" and "Saved" not in dict(miss.fields)


def test_expired_signatures_are_forgotten_oldest_first_and_a_live_one_is_kept():
    guard = ReplayGuard(window_s=10)
    assert guard.first_time("a", now=100) and guard.first_time("b", now=105)
    assert guard.first_time("a", now=111)  # a's window ended at 110
    assert not guard.first_time("b", now=111)  # b's lasts until 115


def test_each_chat_service_has_its_own_replay_guard_per_app():
    from flask import Flask

    from chatbots.slack import replay_guard

    with Flask("one").app_context():
        slack = replay_guard("slack")
        assert replay_guard("slack") is slack and replay_guard("discord") is not slack
    with Flask("two").app_context():
        assert replay_guard("slack") is not slack


def test_a_confidence_is_a_whole_percentage():
    reply = event_reply({"type": "feedback", "mode": "practice", "target": "4", "correct": True, "confidence": 0.999})
    assert dict(reply.fields)["Confidence"] == "100%"


class Webhook:
    calls: list = []
    status = 200

    def __init__(self, url, timeout=None):
        self.url, self.timeout = url, timeout

    def send_dict(self, payload):
        Webhook.calls.append((self.url, self.timeout, payload))
        return SimpleNamespace(status_code=Webhook.status)


@pytest.mark.parametrize("status,logged", [(200, []), (299, []), (300, ["response_url answered 300"])])
def test_a_reply_is_posted_to_the_response_url_with_a_timeout_and_a_refusal_is_logged(
    monkeypatch, caplog, status, logged
):
    from chatbots import slack

    monkeypatch.setattr(slack, "WebhookClient", Webhook)
    monkeypatch.setattr(Webhook, "calls", [])
    monkeypatch.setattr(Webhook, "status", status)
    with caplog.at_level(logging.WARNING, "inkbus.slack"):
        slack._post_response("https://hooks.slack.com/r/1", {"text": "hi"})
    assert Webhook.calls == [("https://hooks.slack.com/r/1", 10, {"text": "hi"})]
    assert caplog.messages == logged


def test_a_failing_slash_command_is_logged_not_raised(caplog):
    from chatbots.slack import _safe

    def broken(*args):
        raise RuntimeError(args)

    with caplog.at_level(logging.ERROR, "inkbus.slack"):
        _safe(broken, 1, 2)
    [record] = caplog.records
    assert record.getMessage() == "slash command failed" and record.exc_info[1].args == ((1, 2),)


def test_the_default_guard_spans_slacks_replay_window_and_remembers_100000_signatures():
    guard = ReplayGuard()
    for i in range(100_000):
        guard.first_time(str(i), now=0)
    assert not guard.first_time("0", now=MAX_AGE_S - 1)  # all 100,000 still remembered
    assert guard.first_time("one more", now=MAX_AGE_S - 1)  # the oldest makes room for it
    assert guard.first_time("0", now=MAX_AGE_S - 1)
    assert guard.first_time("1", now=MAX_AGE_S)  # the window has ended for the rest
