"""The Socket.IO contract on the wire (a live edge on the in-process bus): packets the libraries cannot
read, binary attachments, non-string event names, oversize long-polling posts, a flood of garbage
(answered, logged a few times, never as a plain traceback) and a bounded fuzz: every event is answered."""

from __future__ import annotations

import json
import logging
import random
import threading
import time

import pytest
import requests
import socketio
import websocket

from foundation.logs import JsonFormatter
from tests.helpers import free_port, http_ok, wait_until
from web.app import create_app
from web.server import serve


@pytest.fixture(scope="module")
def edge(settings, memory_worker):
    app, sio = create_app(settings, broker_url="memory://", local_workers=lambda: int(memory_worker.ready.is_set()))
    port = free_port()
    threading.Thread(target=serve, args=(app, sio, "127.0.0.1", port), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(url + "/healthz"), 10, what="the edge")
    yield url
    app.extensions["inkbus.bridge"].stop()


class Raw:
    """A bare Engine.IO websocket: sends packets exactly as written."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
        self.ws.recv()  # the Engine.IO open packet
        self.ws.send("40")
        assert self.ws.recv().startswith("40")

    def send(self, pkt: str, binary: bytes | None = None, wait: float = 2.0) -> list[str]:
        self.ws.send(pkt)
        if binary is not None:
            self.ws.send_binary(binary)
        return self.until_ack(wait)

    def until_ack(self, wait: float) -> list[str]:
        got, deadline = [], time.monotonic() + wait
        self.ws.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                got.append(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if got[-1].startswith("43"):
                break
        return got

    def close(self):
        self.ws.close()


def _ack(frames: list[str]) -> dict:
    ack = next(f for f in frames if f.startswith("43"))
    return json.loads(ack[ack.index("[") :])[0]


@pytest.fixture
def raw(edge):
    r = Raw(edge)
    yield r
    r.close()


@pytest.mark.parametrize(
    "pkt",
    [
        '421["stroke",{"id":' + "1" * 300 + ',"points":[],"final":false}]',
        '421["stroke",{"id":0,"points":[[' + "9" * 300 + ',0]],"final":false}]',
        "421[]",
        "421{}",
        "421garbage!!",
    ],
)
def test_an_unreadable_packet_gets_an_error_ack_and_event(raw, pkt):
    frames = raw.send(pkt)
    assert _ack(frames)["code"] == "invalid_event", frames
    assert any(f.startswith('42["error"') and "invalid_event" in f for f in frames)


@pytest.mark.parametrize("name", ["5", "null", "true", '{"a":1}', "[1]"])
def test_a_non_string_event_name_gets_an_error_ack(raw, name):
    assert _ack(raw.send(f"421[{name},{{}}]"))["code"] in {"unknown_event", "invalid_event"}


def test_a_binary_attachment_in_a_stroke_is_an_invalid_event(raw):
    frames = raw.send('451-1["stroke",{"id":0,"points":[],"final":false,"x":{"_placeholder":true,"num":0}}]', b"\x00")
    assert _ack(frames)["code"] == "invalid_event", frames
    frames = raw.send('451-1["stroke",{"_placeholder":true,"num":0}]', b"\x01\x02")
    assert _ack(frames)["code"] == "invalid_event", frames
    assert _ack(raw.send('422["undo"]'))["ok"] is True  # the connection still works


def test_a_flood_of_garbage_is_answered_and_logged_a_few_times(raw, caplog):
    with caplog.at_level(logging.INFO):
        for _ in range(2000):
            raw.ws.send("42garbage!!")  # 11 bytes that are not an event
        time.sleep(0.5)
        assert _ack(raw.send('429["clear"]', wait=10))  # the connection is still up (maybe rate limited)
    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert len(lines) <= 10, [r.getMessage() for r in caplog.records][:20]
    assert sum(map(len, lines)) < 10_000
    assert all("\n" not in line for line in lines)
    assert not [r for r in caplog.records if r.name.startswith(("engineio", "socketio"))]


def test_a_json_log_line_holds_its_traceback():
    try:
        raise ValueError("boom\nwith a newline")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line and "Traceback" in json.loads(line)["exc"]


def test_the_socketio_libraries_print_through_the_json_handler_only(edge):
    for name in ("engineio.server", "socketio.server"):
        assert logging.getLogger(name).handlers == [], name  # no plain StreamHandler of their own


def test_an_oversize_long_polling_post_is_refused_at_once(edge):
    base = edge + "/socket.io/?EIO=4&transport=polling"
    sid = json.loads(requests.get(base, timeout=5).text[1:])["sid"]
    assert requests.post(f"{base}&sid={sid}", data="40", timeout=5).ok
    res = requests.post(f"{base}&sid={sid}", data="4" + "x" * (2 * 1024 * 1024), timeout=30)
    assert res.status_code == 413 and res.json()["error"]["code"] == "payload_too_large"


NAMES = ["stroke", "undo", "clear", "check", "message", "x", "", "stroke ", "ümlaut", "a" * 300]


def _value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**53), 10**30])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e-320, 3.0])
    if kind == 4:
        return "".join(rng.choice('ab \u00e9\u4e00"\\') for _ in range(rng.randrange(0, 40)))
    if kind == 5:
        return rng.randbytes(rng.randrange(0, 64))
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 6))]
    keys = ["id", "points", "final", "target", "learner", "z"]
    return {rng.choice(keys): _value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def test_fuzzed_events_are_all_answered_and_the_edge_stays_up(edge):
    rng = random.Random(20261201)
    client = socketio.Client(reconnection=False)
    client.connect(edge, transports=["websocket"], wait_timeout=10)
    try:
        for i in range(300):
            name = rng.choice(NAMES)
            payload = _value(rng)
            if rng.random() < 0.2 and name == "stroke":
                payload = {"id": rng.randrange(-2, 4), "points": [[rng.random(), rng.random()]] * 3, "final": True}
            ack = client.call(name, payload, timeout=10)
            assert isinstance(ack, dict) and "ok" in ack, (i, name, payload, ack)
            if not ack["ok"]:
                assert ack["code"] and ack["message"], ack
            if i % 40 == 39:
                time.sleep(1)  # let the token bucket refill now and then, so most events reach their handler
    finally:
        client.disconnect()
    assert requests.get(edge + "/healthz", timeout=5).ok


def test_gevent_and_warnings_print_through_logging(caplog):
    import warnings

    import gevent.hub

    from foundation.logs import route_gevent_errors

    route_gevent_errors()
    try:
        raise RuntimeError("in a greenlet")
    except RuntimeError as exc:
        gevent.hub.Hub.print_exception(None, "a greenlet", type(exc), exc, exc.__traceback__)
    logging.captureWarnings(False)  # an earlier test's catch_warnings may have put the plain printer back
    logging.captureWarnings(True)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("always")  # an earlier test may have shown (and so silenced) this one already
        warnings.warn("numpy says so", RuntimeWarning, stacklevel=1)
    assert any(r.name == "inkbus.gevent" and r.exc_info for r in caplog.records)
    assert any(r.name == "py.warnings" for r in caplog.records)
