"""The Python client against a real edge app served over HTTP (in-process bus and worker), and ``inkbus
recognize --url`` through it."""

from __future__ import annotations

import io
import json
import threading

import pytest
from werkzeug.serving import make_server

from inkbus.client import API_VERSION, InkbusClient, InkbusError
from inkbus.recognize_cli import recognize_remote
from tests.helpers import free_port, load_json
from web.app import create_app


@pytest.fixture(scope="module")
def base_url(settings, memory_worker):
    app, _ = create_app(settings, broker_url="memory://", local_workers=lambda: int(memory_worker.ready.is_set()))
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    app.extensions["inkbus.bridge"].stop()  # its reply consumer must not outlive the module


def test_recognize_health_ready_and_version(base_url):
    api = InkbusClient(base_url)
    digit = load_json("digit_7.json")
    guess = api.recognize(digit["strokes"], top=3)
    assert len(guess.top) == 3 and guess.top[0].label == digit["label"] and 0 < guess.top[0].p <= 1
    assert guess.model and guess.job_id and "total_ms" in guess.timings
    assert api.health() is True
    ready = api.ready()
    assert ready.ready and ready.broker and ready.workers >= 1
    assert api.server_version() == API_VERSION


def test_error_answers_are_typed(base_url):
    api = InkbusClient(base_url)
    with pytest.raises(InkbusError) as err:
        api.recognize([[[1, 1]]])
    assert err.value.status == 422 and err.value.code == "degenerate_ink" and err.value.message
    with pytest.raises(InkbusError) as err:
        api.recognize([[[0, 0], [1, 1]]] * 1000)
    assert err.value.status in (413, 422) and err.value.code in {"too_many_strokes", "payload_too_large"}
    with pytest.raises(InkbusError) as err:
        InkbusClient(f"http://127.0.0.1:{free_port()}", timeout_s=2).health()
    assert err.value.status == 0 and err.value.code == "unreachable"


def test_chat(base_url):
    reply = InkbusClient(base_url).chat("help")
    assert reply.ok and reply.title and reply.text + "".join(v for _, v in reply.fields)


def test_inkbus_recognize_url_goes_through_the_api(base_url):
    digit = load_json("digit_7.json")
    lines = [json.dumps({"id": "a", **digit}), "not json", json.dumps({"id": "dot", "strokes": [[[2, 2]]]})]
    out = io.StringIO()
    assert recognize_remote(io.StringIO("\n".join(lines)), out, base_url, top_k=2) is False
    rows = [json.loads(r) for r in out.getvalue().splitlines()]
    assert rows[0]["id"] == "a" and rows[0]["top"][0]["label"] == digit["label"] and len(rows[0]["top"]) == 2
    assert rows[1]["error"]["code"] == "invalid_json" and rows[2]["error"]["code"] == "degenerate_ink"
