"""Every HTTP door refuses hostile input with a coded answer before it is parsed or converted: number
constants, deep nesting, huge or non-ASCII header values, malformed signed bodies, replays, other media
types; 405s say what is allowed; the page takes its limits from the server."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from urllib.parse import urlencode

import pytest
from nacl.signing import SigningKey

from foundation.settings import REPO_ROOT
from tests.helpers import sample_ink
from web.app import create_app

KEY = SigningKey.generate()
INK = {"strokes": next(r for r in sample_ink() if r["label"] == "7")["strokes"]}
DEEP = b"[" * 1000 + b"]" * 1000


@pytest.fixture(scope="module")
def app(settings, memory_worker):
    s = settings.model_copy(
        update={
            "slack_signing_secret": type(settings.slack_signing_secret)("shh"),
            "slack_response_url_prefix": "http://127.0.0.1:1/",
            "discord_public_key": KEY.verify_key.encode().hex(),
        }
    )
    app, _ = create_app(s, broker_url="memory://", local_workers=lambda: int(memory_worker.ready.is_set()))
    yield app
    app.extensions["inkbus.bridge"].stop()


@pytest.fixture
def http(app):
    return app.test_client()


def _code(res) -> str:
    return res.get_json()["error"]["code"]


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'{"strokes": [[[0, 0], [1, 1]]], "top_k": Infinity}', 422, "non_finite"),
        (b'{"strokes": [[[0, 0], [1, 1]]], "top_k": NaN}', 422, "non_finite"),
        (b'{"strokes": [[[0, 0], [1, 1]]], "top_k": 1e999}', 422, "invalid_request"),
        (b'{"strokes": [[[0, 0], [1, 1]]], "top_k": 3.0}', 422, "invalid_request"),
        (b'{"strokes": [[[0, 0], [1, 1]]], "top_k": 1' + b"0" * 5000 + b"}", 400, "invalid_json"),
        (b'{"strokes": ' + DEEP + b"}", 422, "too_deep"),
        (b"[]", 422, "invalid_ink"),
    ],
)
def test_recognize_bounds_numbers_and_nesting(http, raw, status, code):
    res = http.post("/api/v1/recognize", data=raw, content_type="application/json")
    assert (res.status_code, _code(res)) == (status, code)


def test_chat_refuses_deep_nesting_with_a_code(http):
    res = http.post("/api/v1/chat", data=b'{"text": ' + DEEP + b"}", content_type="application/json")
    assert (res.status_code, _code(res)) == (422, "too_deep")


@pytest.mark.parametrize("path", ["/api/v1/recognize", "/api/v1/chat"])
@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_doors_take_only_application_json(http, path, ctype):
    # A cross-site form or text/plain POST needs no CORS preflight: it must not reach a JSON door.
    body = json.dumps(INK if path.endswith("recognize") else {"text": "help"})
    res = http.post(path, data=body, headers={"Content-Type": ctype} if ctype else {})
    assert (res.status_code, _code(res)) == (415, "unsupported_media_type")
    ok = http.post(path, data=body, content_type="application/json; charset=utf-8")
    assert ok.status_code == 200


def test_405_says_which_methods_are_allowed(http):
    res = http.get("/api/v1/recognize")
    assert res.status_code == 405 and _code(res) == "method_not_allowed"
    assert "POST" in res.headers["Allow"]
    assert "GET" in http.delete("/healthz").headers["Allow"]


def test_a_worker_internal_error_is_a_500(app, http, monkeypatch):
    # The worker's own answer for a job it failed on: 500 as documented, not a 422 ink error.
    bridge = app.extensions["inkbus.bridge"]
    failed = {"type": "error", "code": "internal_error", "message": "the worker failed on this job"}
    monkeypatch.setattr(bridge, "request", lambda job, timeout: {**failed, "job_id": job.job_id})
    res = http.post("/api/v1/recognize", json=INK)
    assert (res.status_code, _code(res)) == (500, "internal_error")
    monkeypatch.setattr(bridge, "request", lambda job, timeout: {"type": "error", "code": "invalid_ink"})
    assert http.post("/api/v1/recognize", json=INK).status_code == 422


def _slack(body: str, ts: str | None = None, sig: str | None = None) -> dict:
    ts = ts or str(int(time.time()))
    sig = sig or "v0=" + hmac.new(b"shh", f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


@pytest.mark.parametrize(
    ("ts", "sig"),
    [("1" * 400, None), ("١٢٣", None), ("-5", None), (None, "v0=" + "é" * 64), (None, "v0=zz"), (None, "x" * 5000)],
)
def test_slack_header_values_are_checked_before_conversion(http, ts, sig):
    body = urlencode({"text": "help", "response_url": "http://127.0.0.1:1/r"})
    headers = {k: v.encode("utf-8").decode("latin-1") for k, v in _slack(body, ts, sig).items()}
    res = http.post(
        "/api/v1/slack/commands", data=body, headers=headers, content_type="application/x-www-form-urlencoded"
    )
    assert (res.status_code, _code(res)) == (401, "bad_signature")


def test_a_replayed_slack_request_is_refused(http):
    body = urlencode({"text": "help", "response_url": "http://127.0.0.1:1/r"})
    headers = _slack(body)
    first = http.post("/api/v1/slack/commands", data=body, headers=headers)
    again = http.post("/api/v1/slack/commands", data=body, headers=headers)
    assert first.status_code == 200
    assert (again.status_code, _code(again)) == (401, "replayed_request")


def _discord(http, body: bytes, ts: str | None = None, sig: str | None = None):
    ts = ts or str(int(time.time()))
    sig = sig or KEY.sign(ts.encode() + body).signature.hex()
    headers = {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": ts}
    return http.post("/api/v1/discord/interactions", data=body, headers=headers, content_type="application/json")


def test_discord_header_values_are_checked_before_conversion(http):
    for ts, sig in (("9" * 400, None), (None, "é" * 128), (None, "ab")):
        res = _discord(http, b'{"type": 1}', ts, sig)
        assert (res.status_code, _code(res)) == (401, "bad_signature")


@pytest.mark.parametrize(
    "payload",
    [
        {"type": 2, "data": "stats"},
        {"type": 2, "data": {"name": "stats", "options": "ann"}},
        {"type": 2, "data": {"name": "hint", "options": [1, None, {"value": ["q"]}]}},
        {"type": 2, "member": "ann", "data": {"name": "help"}},
        {"type": 2, "member": {"user": ["x"]}, "user": {"id": {"a": 1}, "username": 7}, "data": {"name": "help"}},
        {"type": 2, "user": {"id": True, "username": None}, "data": None},
        {"type": [2]},
    ],
)
def test_signed_but_malformed_discord_bodies_get_coded_answers(http, payload):
    res = _discord(http, json.dumps(payload).encode())
    assert res.status_code in (200, 422), res.get_data(as_text=True)
    if res.status_code == 422:
        assert _code(res) == "invalid_request"
    deep = _discord(http, b'{"type": 2, "data": ' + DEEP + b"}")
    assert (deep.status_code, _code(deep)) == (422, "too_deep")


def test_a_replayed_discord_interaction_is_refused(http):
    body = json.dumps({"type": 2, "data": {"name": "help"}}).encode()
    ts = str(int(time.time()))
    sig = KEY.sign(ts.encode() + body).signature.hex()
    assert _discord(http, body, ts, sig).status_code == 200
    assert _code(_discord(http, body, ts, sig)) == "replayed_request"


def test_the_safe_loader_bounds_before_parsing():
    from foundation.safejson import BodyError, bounded_int, load_body, nesting_depth

    assert nesting_depth(b'{"a": "[[[[[[", "b": [[1]]}') == 3  # brackets inside strings do not count
    assert nesting_depth(b'"' + b'\\"[' * 20000) == 0  # an unterminated string: linear, not quadratic
    with pytest.raises(BodyError) as exc:
        load_body(b"-Infinity", 100)
    assert exc.value.code == "non_finite"
    with pytest.raises(BodyError) as exc:
        load_body(b"[" * 33 + b"]" * 33, 1000)
    assert exc.value.code == "too_deep"
    assert load_body(b"[" * 32 + b"]" * 32, 1000) is not None
    assert [bounded_int(v) for v in ("12", "1" * 13, "٣", "", None, "+1")] == [12, None, None, None, None, None]


def test_the_page_takes_its_limits_from_the_server(settings):
    s = settings.model_copy(update={"socket_max_strokes": 7, "socket_max_points_per_message": 100})
    app, _ = create_app(s, broker_url="memory://", start_bridge=False)
    html = app.test_client().get("/").get_data(as_text=True)
    assert 'data-max-strokes="7"' in html and 'data-max-points-per-message="100"' in html
    js = (REPO_ROOT / "web" / "static" / "app.js").read_text()
    assert "limitsFrom(document.body.dataset)" in js and not re.search(r"MAX_STROKES\s*=\s*\d", js)
    module = (REPO_ROOT / "web" / "static" / "inkbus-socket.js").read_text()
    assert "dataset.maxStrokes" in module and "dataset.maxPointsPerMessage" in module


def test_the_openapi_ink_needs_a_stroke_as_the_server_does(http):
    doc = http.get("/api/v1/openapi.json").get_json()
    assert doc["components"]["schemas"]["Ink"]["properties"]["strokes"]["minItems"] == 1
    res = http.post("/api/v1/recognize", json={"strokes": []})
    assert (res.status_code, _code(res)) == (422, "empty_ink")
