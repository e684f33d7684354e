"""The Socket.IO protocol in one process: Flask-SocketIO test client, in-process bus, worker thread."""

from __future__ import annotations

import time

import pytest

from tests.helpers import free_port, sample_ink
from web.app import create_app


@pytest.fixture(scope="module")
def worker(memory_worker):
    return memory_worker


@pytest.fixture(scope="module")
def make_app(settings, worker):
    """``make_app(**setting_overrides)`` -> (app, socketio) on the in-process bus, with one worker."""
    made = []

    def _make(broker_url="memory://", workers=1, start_bridge=True, **overrides):
        s = settings.model_copy(update=overrides)
        app, sio = create_app(s, broker_url=broker_url, local_workers=lambda: workers, start_bridge=start_bridge)
        made.append(app)
        return app, sio

    yield _make
    for app in made:
        app.extensions["inkbus.bridge"].stop()


@pytest.fixture(scope="module")
def app(make_app):
    return make_app()


class Client:
    """A test client that keeps what it received, and waits for what it expects."""

    def __init__(self, app):
        self.c = app[1].test_client(app[0])
        self.got: list[tuple[str, dict]] = []

    def emit(self, event, *payload):
        return self.c.emit(event, *payload, callback=True)

    def pen_up(self, stroke_id, points) -> dict:
        pts = [[*p[:2], i * 10] for i, p in enumerate(points)]
        body = pts[:-1]
        for i in range(0, len(body), 4):
            ack = self.emit("stroke", {"id": stroke_id, "points": body[i : i + 4], "final": False})
            if ack != {"ok": True}:
                return ack  # rejected before the pen-up
        return self.emit("stroke", {"id": stroke_id, "points": pts[-1:], "final": True})

    def _pump(self):
        self.got += [(m["name"], m["args"][0]) for m in self.c.get_received()]

    def received(self, name):
        self._pump()
        return [a for n, a in self.got if n == name]

    def wait(self, name, pred=lambda a: True, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [a for a in self.received(name) if pred(a)]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {name} matching within {timeout}s; got {self.got}")

    def prediction(self, seq):
        return self.wait("prediction", lambda p: p["seq"] == seq)

    def error(self, code):
        return self.wait("error", lambda e: e["code"] == code)


def two_stroke_sample():
    return next(r for r in sample_ink() if len(r["strokes"]) == 2 and all(len(s) > 3 for s in r["strokes"]))


def test_drawing_stroke_by_stroke_gives_a_prediction_after_each_pen_up(app, recognizer):
    client = Client(app)
    sample = two_stroke_sample()
    seqs = []
    for i, stroke in enumerate(sample["strokes"]):
        ack = client.pen_up(i, stroke)
        assert ack["ok"] and ack["seq"] == i + 1
        p = client.prediction(ack["seq"])
        assert set(p) == {"seq", "top", "shape", "model", "latency_ms", "stages_ms"}
        assert len(p["top"]) == 3 and p["top"][0]["p"] >= p["top"][1]["p"] >= p["top"][2]["p"]
        assert p["model"] == recognizer.version
        assert isinstance(p["latency_ms"], float) and p["latency_ms"] >= 0
        seqs.append(p["seq"])
    assert seqs == [1, 2]
    assert client.received("error") == []


def test_quick_pen_ups_never_go_back_in_seq(app):
    client = Client(app)
    strokes = next(r for r in sample_ink() if len(r["strokes"]) >= 3)["strokes"]
    last = [client.pen_up(i, s)["seq"] for i, s in enumerate(strokes)][-1]
    client.prediction(last)
    seqs = [p["seq"] for p in client.received("prediction")]
    assert seqs == sorted(set(seqs)) and seqs[-1] == last


def test_undo_and_clear(app):
    client = Client(app)
    a, b = two_stroke_sample()["strokes"]
    client.pen_up(0, a)
    client.prediction(client.pen_up(1, b)["seq"])
    undo = client.emit("undo", {})
    assert undo == {"ok": True, "seq": 3}
    client.prediction(3)  # the drawing without its last stroke
    assert client.pen_up(1, b)["seq"] == 4  # the undone index is free again
    client.prediction(4)
    assert client.emit("clear", {}) == {"ok": True, "seq": 5}
    late = client.emit("stroke", {"id": 1, "points": [[1, 2, 3]], "final": True})
    assert late["code"] == "invalid_stroke"  # after a clear, strokes count from 0
    client.error("invalid_stroke")
    assert client.pen_up(0, a)["seq"] == 6  # a rejected event takes no seq
    client.prediction(6)
    assert client.emit("undo") == {"ok": True, "seq": 7}  # back to empty: nothing to recognise, no error
    time.sleep(0.3)
    assert [e["code"] for e in client.received("error")] == ["invalid_stroke"]
    assert all(p["seq"] != 7 for p in client.received("prediction"))


def test_empty_and_degenerate_drawings_get_a_message_not_a_guess(app, worker):
    client = Client(app)
    answered = worker.stats["answered"]
    ack = client.emit("stroke", {"id": 0, "points": [], "final": True})
    assert ack["ok"] is False and ack["code"] == "empty_ink" and ack["seq"] == 1
    assert client.error("empty_ink")["seq"] == 1
    assert client.emit("stroke", {"id": 1, "points": [[7, 7, 0], [7, 7, 20]], "final": True})["seq"] == 2
    assert client.error("degenerate_ink")["seq"] == 2
    time.sleep(0.5)
    assert client.received("prediction") == [] and worker.stats["answered"] == answered  # nothing was published


BAD_EVENTS = [
    ("stroke", ("not an object",), "invalid_event"),
    ("stroke", (42,), "invalid_event"),
    ("stroke", ([0, [[1, 2, 0]], True],), "invalid_event"),
    ("stroke", (), "invalid_event"),
    ("stroke", ({"id": "0", "points": [[1, 2, 0]], "final": True},), "invalid_event"),
    ("stroke", ({"id": True, "points": [[1, 2, 0]]},), "invalid_event"),
    ("stroke", ({"id": -1, "points": [[1, 2, 0]]},), "invalid_event"),
    ("stroke", ({"id": 0.5, "points": [[1, 2, 0]]},), "invalid_event"),
    ("stroke", ({"id": 0, "points": "1,2"},), "invalid_event"),
    ("stroke", ({"id": 0},), "invalid_event"),
    ("stroke", ({"id": 0, "points": [[1]]},), "invalid_ink"),
    ("stroke", ({"id": 0, "points": [[1, 2, 3, 4]]},), "invalid_ink"),
    ("stroke", ({"id": 0, "points": [[1, "2", 0]]},), "invalid_ink"),
    ("stroke", ({"id": 0, "points": [[1, None, 0]]},), "invalid_ink"),
    ("stroke", ({"id": 0, "points": [[1, False, 0]]},), "invalid_ink"),
    ("stroke", ({"id": 0, "points": [[float("nan"), 2, 0]]},), "non_finite"),
    ("stroke", ({"id": 0, "points": [[float("inf"), 2, 0]]},), "non_finite"),
    ("stroke", ({"id": 0, "points": [[1e12, 2, 0]]},), "out_of_range"),
    ("stroke", ({"id": 0, "points": [{"x": 1, "y": 2}]},), "invalid_ink"),
    ("stroke", ({"id": 0, "points": [], "final": "yes"},), "invalid_event"),
    ("stroke", ({"id": 3, "points": [[1, 2, 0]]},), "invalid_stroke"),
    ("stroke", ({"id": 0, "points": [[1, 2, 0]] * 513},), "too_many_points"),
    ("stroke", ({"id": 0, "points": [[1, 2, 0]], "pad": "x" * 20_000},), "payload_too_large"),
    ("stroke", ({"id": 0, "points": [[123456.789012, 234567.891234, 99999]] * 510},), "payload_too_large"),
    ("undo", ("now",), "invalid_event"),
    ("clear", ([],), "invalid_event"),
    ("draw", ({"id": 0},), "unknown_event"),
]


@pytest.mark.parametrize(
    ("event", "args", "code"), BAD_EVENTS, ids=[f"{e}-{c}-{i}" for i, (e, _, c) in enumerate(BAD_EVENTS)]
)
def test_a_bad_event_gets_a_coded_error_and_the_connection_keeps_working(app, event, args, code):
    client = Client(app)
    client.emit(event, *args)
    err = client.error(code)
    assert set(err) == {"code", "message"} and err["message"]  # no seq: it concerns no drawing state
    assert client.c.is_connected()
    ack = client.pen_up(0, [[0, 0], [30, 40], [60, 10]])
    assert ack["ok"], ack
    client.prediction(ack["seq"])


def test_a_flood_is_rate_limited_and_the_connection_stays_up(make_app):
    client = Client(make_app(socket_burst=10, socket_max_messages_per_s=5.0))
    acks = [client.emit("stroke", {"id": 0, "points": [[i, i, i]], "final": False}) for i in range(60)]
    limited = [a for a in acks if a.get("code") == "rate_limited"]
    assert 10 <= sum(a == {"ok": True} for a in acks) <= 20 and len(limited) >= 40
    notices = [e["code"] for e in client.received("error")]
    assert set(notices) == {"rate_limited"} and len(notices) <= 2  # at most one notice a second, not one per event
    assert client.c.is_connected()
    time.sleep(0.5)  # the bucket refills
    ack = client.emit("stroke", {"id": 0, "points": [[80, 5, 999]], "final": True})
    assert ack["ok"], ack
    client.prediction(ack["seq"])


def test_other_clients_are_unaffected_by_a_misbehaving_one(app):
    bad, good = Client(app), Client(app)
    for payload in ("junk", {"id": "x"}, {"id": 0, "points": [[float("nan"), 0, 0]]}, {"id": 0, "pad": "x" * 40_000}):
        bad.emit("stroke", payload)
    for i in range(150):
        bad.emit("stroke", {"id": 9, "points": [[i, i, i]]})
    sample = two_stroke_sample()
    seq = 0
    for i, stroke in enumerate(sample["strokes"]):
        seq = good.pen_up(i, stroke)["seq"]
    assert good.prediction(seq)
    assert good.received("error") == []
    assert {"invalid_event", "non_finite", "payload_too_large", "rate_limited"} <= {
        e["code"] for e in bad.received("error")
    }
    assert bad.c.is_connected() and good.c.is_connected()


def test_limits_per_drawing(make_app):
    client = Client(make_app(socket_max_strokes=2, socket_max_points_per_drawing=8))
    assert client.pen_up(0, [[0, 0], [9, 9]])["ok"]
    assert client.pen_up(1, [[0, 9], [9, 0]])["ok"]
    assert client.pen_up(2, [[5, 5], [6, 9]])["code"] == "too_many_strokes"
    assert client.emit("undo", {})["ok"]
    assert client.emit("stroke", {"id": 1, "points": [[i, i, i] for i in range(7)], "final": True})["code"] == (
        "too_many_points"
    )
    assert {e["code"] for e in client.received("error")} == {"too_many_strokes", "too_many_points"}


def test_broker_down_or_no_worker_is_reported(make_app):
    down = Client(make_app(broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//", start_bridge=False))
    assert down.pen_up(0, [[0, 0], [9, 9]])["code"] == "broker_unavailable"
    assert down.error("broker_unavailable")["seq"] == 1
    idle = Client(make_app(workers=0))
    assert idle.pen_up(0, [[0, 0], [9, 9]])["code"] == "no_workers"
    assert down.c.is_connected() and idle.c.is_connected()
