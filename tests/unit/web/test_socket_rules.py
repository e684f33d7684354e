"""The drawing protocol's rules without a bus or a server: every rejection's code and message, what is
recorded for the ops page, which answers reach the page, and how the handlers are wired onto Socket.IO."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from observability.metrics import CONNECTED_CLIENTS
from tests.unit.web.test_socket_sessions import FakeSocketIO
from web import sockets
from web.sockets import DrawingSessions, EventError, register_socket_handlers, stages_ms


class FakeBridge:
    edge_id = "edge-rules"

    def __init__(self):
        self.jobs = []
        self.forgotten = []
        self.publisher = self
        self.stats = (0, 1)
        self.listeners = []

    def forget(self, drawing_id):
        self.forgotten.append(drawing_id)

    def job_queue_stats(self, max_age_s=1.0, block=True):
        return self.stats

    def submit(self, job):
        self.jobs.append(job)

    def add_listener(self, fn):
        self.listeners.append(fn)


class Observer:
    def __init__(self):
        self.records, self.models = [], []

    def record(self, kind, outcome, latency_s, batch_size):
        self.records.append((kind, outcome, latency_s, batch_size))

    def seen_model(self, model):
        self.models.append(model)


def refused(call) -> tuple[str, str]:
    with pytest.raises(EventError) as exc:
        call()
    return exc.value.code, exc.value.message


def connected(settings) -> DrawingSessions:
    """Sessions under ``settings`` (limits changed for one test) with one connection, ``s1``."""
    sessions = DrawingSessions(FakeSocketIO(), FakeBridge(), settings)
    sessions.connect("s1")
    return sessions


def stroke(sessions, payload, sid="s1"):
    return sessions.stroke(sid, payload)


LINE = [[0, 0, 0], [10, 12, 5]]


# -- errors and their payloads


def test_an_error_payload_carries_its_seq_only_when_it_has_one():
    assert EventError("bad", "why").payload() == {"code": "bad", "message": "why"}
    assert EventError("bad", "why", seq=0).payload() == {"code": "bad", "message": "why", "seq": 0}
    assert str(EventError("bad", "why")) == "why"


@pytest.mark.parametrize(
    "payload,code,message",
    [
        ([1], "invalid_event", "the event payload must be a JSON object"),
        ({"id": 0, "points": LINE, "blob": b"\x00"}, "invalid_event",
         "the payload must be plain JSON: no binary attachments"),
        ({"id": -1, "points": LINE}, "invalid_event", '"id" must be a non-negative integer (the stroke index)'),
        ({"id": True, "points": LINE}, "invalid_event", '"id" must be a non-negative integer (the stroke index)'),
        ({"id": "0", "points": LINE}, "invalid_event", '"id" must be a non-negative integer (the stroke index)'),
        ({"id": 0, "points": LINE, "final": 1}, "invalid_event", '"final" must be true or false'),
        ({"id": 0, "points": "x"}, "invalid_event", '"points" must be a list of [x, y, t] points'),
        ({"id": 0}, "invalid_event", '"points" must be a list of [x, y, t] points'),
        ({"id": 0, "points": [[0, "x"]]}, "invalid_ink", "stroke 0, point 0: coordinates must be numbers"),
        ({"id": 1, "points": LINE}, "invalid_stroke",
         "stroke 1 is not open: the next stroke is 0 (after undo/clear, recount)"),
    ],
)  # fmt: skip
def test_each_bad_stroke_event_gets_its_code_and_message(world, payload, code, message):
    sessions, _, bridge = world
    assert refused(lambda: stroke(sessions, payload)) == (code, message)
    assert bridge.jobs == []


def test_an_oversize_event_is_refused_with_its_size_and_the_limit(settings):
    sessions = connected(settings.model_copy(update={"socket_max_payload_bytes": 40}))
    exact = {"id": 0, "points": [[0, 0, 0]], "x": "a" * 4}
    assert len('{"id":0,"points":[[0,0,0]],"x":"aaaa"}') == 38
    assert stroke(sessions, exact) == {"ok": True}
    sessions.connect("s2")
    at_limit = {"id": 0, "points": [[0, 0, 0]], "x": "a" * 6}  # 40 bytes, the limit: accepted
    assert stroke(sessions, at_limit, "s2") == {"ok": True}
    over = {"id": 0, "points": [[0, 0, 0]], "x": "a" * 7}
    sessions.connect("s3")
    assert refused(lambda: stroke(sessions, over, "s3")) == (
        "payload_too_large", "the event is 41 bytes; at most 40 are accepted",
    )  # fmt: skip


def test_a_stroke_event_may_carry_up_to_the_per_message_point_limit(settings):
    s = settings.model_copy(update={"socket_max_points_per_message": 3})
    sessions = connected(s)
    assert stroke(sessions, {"id": 0, "points": [[0, 0], [1, 1], [2, 2]]}) == {"ok": True}
    assert refused(lambda: stroke(sessions, {"id": 0, "points": [[0, 0]] * 4})) == (
        "too_many_points", "at most 3 points in one stroke event",
    )  # fmt: skip


def test_the_drawing_limits_name_the_limit(settings):
    s = settings.model_copy(update={"socket_max_strokes": 1, "socket_max_points_per_drawing": 3})
    sessions = connected(s)
    assert stroke(sessions, {"id": 0, "points": LINE, "final": True})["seq"] == 1
    assert refused(lambda: stroke(sessions, {"id": 1, "points": LINE})) == (
        "too_many_strokes", "at most 1 strokes in one drawing",
    )  # fmt: skip
    sessions.clear("s1", {})
    assert stroke(sessions, {"id": 0, "points": [[0, 0], [1, 1], [2, 2]]}) == {"ok": True}  # exactly the limit
    assert refused(lambda: stroke(sessions, {"id": 0, "points": [[3, 3]]})) == (
        "too_many_points", "at most 3 points in one drawing",
    )  # fmt: skip


def test_an_event_from_a_connection_without_a_drawing_is_refused(world):
    sessions, _, _ = world
    assert refused(lambda: sessions.undo("nobody", {})) == (
        "not_connected", "this connection has no drawing; reconnect",
    )  # fmt: skip


def test_a_connection_out_of_tokens_is_rate_limited(settings):
    s = settings.model_copy(update={"socket_max_messages_per_s": 0.001, "socket_burst": 2})
    sessions = connected(s)
    sessions.clear("s1", {})
    sessions.clear("s1", None)
    assert refused(lambda: sessions.clear("s1", {})) == (
        "rate_limited", "too many events: slow down (the connection stays open)",
    )  # fmt: skip


def test_a_rate_limited_notice_for_a_gone_connection_is_not_sent(world):
    sessions, _, _ = world
    assert sessions.should_tell("gone", EventError("rate_limited", "slow down")) is False


# -- strokes, undo and clear


def test_points_of_an_open_stroke_are_added_until_its_pen_up(world):
    sessions, _, bridge = world
    assert stroke(sessions, {"id": 0, "points": [[0, 0, 0]]}) == {"ok": True}  # final defaults to false
    assert stroke(sessions, {"id": 0, "points": [[4, 8, 5]]}) == {"ok": True}
    assert stroke(sessions, {"id": 0, "points": [[9, 1, 9]], "final": True}) == {"ok": True, "seq": 1}
    assert bridge.jobs[0].ink == {"strokes": [[[0, 0, 0], [4, 8, 5], [9, 1, 9]]]}
    assert refused(lambda: stroke(sessions, {"id": 0, "points": [[1, 1]]}))[0] == "invalid_stroke"  # closed
    d = sessions.drawing("s1")
    assert d.points == 3 and not d.open_stroke


def test_a_new_stroke_implies_the_pen_up_of_an_open_one(world):
    sessions, _, bridge = world
    stroke(sessions, {"id": 0, "points": [[0, 0]]})
    assert stroke(sessions, {"id": 1, "points": [[5, 5], [9, 9]], "final": True}) == {"ok": True, "seq": 1}
    assert bridge.jobs[0].ink == {"strokes": [[[0, 0]], [[5, 5], [9, 9]]]}


def test_undo_gives_back_the_points_of_the_stroke_it_removes(settings):
    s = settings.model_copy(update={"socket_max_points_per_drawing": 4})
    sessions = connected(s)
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    stroke(sessions, {"id": 1, "points": LINE, "final": True})
    sessions.undo("s1", {})
    d = sessions.drawing("s1")
    assert d.points == 2 and len(d.strokes) == 1 and not d.open_stroke and d.floor == d.seq == 3
    assert stroke(sessions, {"id": 1, "points": LINE, "final": True})["ok"]


def test_undo_closes_an_open_stroke(world):
    sessions, _, _ = world
    stroke(sessions, {"id": 0, "points": LINE})
    stroke(sessions, {"id": 1, "points": LINE})
    sessions.undo("s1", {})
    assert not sessions.drawing("s1").open_stroke
    assert refused(lambda: stroke(sessions, {"id": 0, "points": [[1, 1]]}))[0] == "invalid_stroke"


def test_clear_forgets_the_drawing_and_its_timings(world):
    sessions, _, _ = world
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    assert sessions.drawing("s1").started
    assert sessions.clear("s1", {}) == {"ok": True, "seq": 2}
    d = sessions.drawing("s1")
    assert (d.strokes, d.points, d.open_stroke, d.floor, d.started) == ([], 0, False, 2, {})


def test_a_job_carries_the_drawing_its_deadline_and_where_to_answer(world, settings):
    import time

    sessions, _, bridge = world
    before = time.time()
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    [job] = bridge.jobs
    assert job.drawing_id == sessions.drawing("s1").drawing_id and job.drawing_id.startswith("d-")
    assert before + settings.request_timeout_s <= job.deadline <= time.time() + settings.request_timeout_s
    assert job.reply_to == "edge-rules" and job.top_k == settings.socket_top_k


def test_at_most_64_unanswered_jobs_are_timed_per_drawing(world):
    sessions, _, bridge = world
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    for _ in range(35):  # each pen-up and undo publishes a job
        stroke(sessions, {"id": 1, "points": LINE, "final": True})
        sessions.undo("s1", {})
    started = sessions.drawing("s1").started
    assert len(bridge.jobs) == 71 and len(started) == 64 and min(started) == 8 and max(started) == 71


def test_each_connection_is_its_own_drawing_and_counted_while_open(settings):
    sessions = DrawingSessions(FakeSocketIO(), FakeBridge(), settings)
    before = CONNECTED_CLIENTS._value.get()
    sessions.connect("a")
    sessions.connect("b")
    assert sessions.connections() == 2 and CONNECTED_CLIENTS._value.get() == before + 2
    assert sessions.drawing("a").drawing_id != sessions.drawing("b").drawing_id
    sessions.disconnect("a")
    sessions.disconnect("a")  # twice: counted once
    assert sessions.connections() == 1 and CONNECTED_CLIENTS._value.get() == before + 1
    sessions.disconnect("b")


# -- answers


def prediction(seq, sid="s1", **extra):
    return {"type": "prediction", "seq": seq, "top": [{"label": "a", "p": 0.9}], "model": "m-2",
            "meta": {"sid": sid, "source": "socket", "seq": seq}, **extra}  # fmt: skip


def test_an_answer_is_recorded_with_its_latency_and_batch_and_its_model_seen(world):
    sessions, sio, _ = world
    sessions.observer = obs = Observer()
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    sessions.on_bus_event(prediction(1, timings={"queue_ms": 1.0, "batch_size": 6}, shape={"labels": ["o", "0"]}))
    [(kind, outcome, latency_s, batch)] = obs.records
    assert (kind, outcome, batch) == ("socket", "ok", 6) and 0 <= latency_s < 5
    assert obs.models == ["m-2"]
    [(event, payload, to)] = sio.sent
    assert (event, to) == ("prediction", "s1")
    assert payload["top"] == [{"label": "a", "p": 0.9}] and payload["model"] == "m-2"
    assert payload["shape"] == {"labels": ["o", "0"]} and payload["latency_ms"] == pytest.approx(latency_s * 1000)


def test_an_answer_to_an_untimed_job_has_no_latency(world):
    sessions, sio, _ = world
    sessions.observer = obs = Observer()
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    sessions.drawing("s1").started.clear()
    sessions.on_bus_event(prediction(1))
    assert obs.records == [("socket", "ok", None, None)] and sio.sent[0][1]["latency_ms"] is None


def test_a_newer_answer_forgets_the_timings_of_older_jobs(world):
    sessions, _, _ = world
    for i in range(3):
        stroke(sessions, {"id": i, "points": LINE, "final": True})
    sessions.on_bus_event(prediction(2))
    assert list(sessions.drawing("s1").started) == [3]


def test_the_seq_of_an_answer_falls_back_to_the_events_own(world):
    sessions, sio, _ = world
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    body = prediction(1)
    del body["meta"]["seq"]
    sessions.on_bus_event(body)
    assert [p["seq"] for _, p, _ in sio.sent] == [1]


@pytest.mark.parametrize("seq", [None, "1", True, 1.0])
def test_an_answer_without_an_integer_seq_is_ignored(world, seq):
    sessions, sio, _ = world
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    body = prediction(1)
    body["meta"]["seq"] = seq
    body["seq"] = seq
    sessions.on_bus_event(body)
    assert sio.sent == []


def test_an_answer_for_a_non_string_connection_is_ignored(world):
    sessions, sio, _ = world
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    sessions.on_bus_event(prediction(1, sid=7))
    sessions.on_bus_event([1, 2])
    assert sio.sent == []


def test_a_worker_error_is_recorded_and_defaults_to_an_internal_error(world):
    sessions, sio, _ = world
    sessions.observer = obs = Observer()
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    sessions.on_bus_event({"type": "error", "meta": {"sid": "s1", "source": "socket", "seq": 1}})
    assert sio.sent == [("error", {"code": "internal_error", "message": "", "seq": 1}, "s1")]
    assert obs.records == [("socket", "internal_error", None, None)] and obs.models == []


def test_an_edge_refusal_is_recorded_and_carries_its_seq(world):
    sessions, _, bridge = world
    sessions.observer = obs = Observer()
    bridge.stats = None
    with pytest.raises(EventError) as exc:
        stroke(sessions, {"id": 0, "points": LINE, "final": True})
    assert exc.value.payload() == {
        "code": "broker_unavailable", "message": "the message broker is unreachable; try again shortly", "seq": 1,
    }  # fmt: skip
    assert obs.records == [("socket", "broker_unavailable", None, None)]
    assert sessions.drawing("s1").emitted == 1


def test_an_older_edge_refusal_never_lowers_what_was_shown(world):
    sessions, _, _ = world
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    sessions.on_bus_event(prediction(1))
    d = sessions.drawing("s1")
    sessions._answer_now(d, 0, "timeout", "late")
    assert d.emitted == 1


# -- stage timings


def test_stages_are_rounded_and_never_negative_and_a_bad_batch_size_is_dropped():
    body = {"created_at": 100.0, "produced_at": 100.001, "timings": {"queue_ms": 5.123456, "batch_size": True}}
    assert stages_ms(body, now=99.0) == {"queue": 5.12, "compute": 0.0, "reply": 0.0, "batch": None}
    body = {"created_at": 100.0, "produced_at": 100.0500004, "timings": {"queue_ms": 10, "batch_size": 3}}
    assert stages_ms(body, now=100.0600004) == {"queue": 10, "compute": 40.0, "reply": 10.0, "batch": 3}


@pytest.mark.parametrize(
    "body",
    [
        {"created_at": 1.0, "produced_at": 2.0},
        {"created_at": 1.0, "produced_at": 2.0, "timings": {"queue_ms": "1"}},
        {"created_at": True, "produced_at": 2.0, "timings": {"queue_ms": 1.0}},
        {"created_at": 1.0, "produced_at": float("inf"), "timings": {"queue_ms": 1.0}},
        {"created_at": 1.0, "timings": {"queue_ms": 1.0}},
    ],
)
def test_an_event_without_valid_stamps_has_no_stages(body):
    assert stages_ms(body, now=3.0) is None


def test_stages_use_the_clock_when_no_time_is_given(monkeypatch):
    monkeypatch.setattr(sockets.time, "time", lambda: 100.5)
    body = {"created_at": 100.0, "produced_at": 100.25, "timings": {"queue_ms": 50.0}}
    assert stages_ms(body)["reply"] == 250.0


# -- wiring


class Server:
    def __init__(self):
        self.async_handlers = True
        self.eio = type("Eio", (), {"max_http_buffer_size": 0})()
        self.handlers = {}

    def on(self, name, handler, namespace=None):
        self.handlers[(name, namespace)] = handler


class WiredSocketIO(FakeSocketIO):
    def __init__(self):
        super().__init__()
        self.server = Server()
        self.flask_handlers = {}

    def on(self, name):
        def register(fn):
            self.flask_handlers[name] = fn
            return fn

        return register


@pytest.fixture
def wired(settings):
    sio, bridge = WiredSocketIO(), FakeBridge()
    s = settings.model_copy(update={"socket_max_frame_bytes": 1000, "socket_max_payload_bytes": 800})
    sessions = register_socket_handlers(sio, bridge, s)
    return sessions, sio, bridge


def test_events_are_handled_in_order_and_frames_bounded_by_the_larger_limit(wired, settings):
    sessions, sio, bridge = wired
    assert sio.server.async_handlers is False and sio.server.eio.max_http_buffer_size == 1000
    assert bridge.listeners == [sessions.on_bus_event]
    assert set(sio.server.handlers) == {("stroke", "/"), ("undo", "/"), ("clear", "/")}
    assert sio.server.handlers[("stroke", "/")].__name__ == "on_stroke"
    assert set(sio.flask_handlers) == {"connect", "disconnect", "*"}
    s = settings.model_copy(update={"socket_max_frame_bytes": 100, "socket_max_payload_bytes": 800})
    other = WiredSocketIO()
    register_socket_handlers(other, FakeBridge(), s)
    assert other.server.eio.max_http_buffer_size == 800


def test_a_handled_event_answers_with_the_sessions_reply(wired):
    sessions, sio, _ = wired
    sessions.connect("s1")
    handler = sio.server.handlers[("stroke", "/")]
    assert handler("s1", {"id": 0, "points": LINE, "final": True}, "extra", "args") == {"ok": True, "seq": 1}
    assert sio.server.handlers[("clear", "/")]("s1") == {"ok": True, "seq": 2}


def test_a_rejected_event_is_acked_and_sent_as_an_error(wired):
    sessions, sio, _ = wired
    sessions.connect("s1")
    ack = sio.server.handlers[("undo", "/")]("s1", [1])
    body = {"code": "invalid_event", "message": "the event payload must be a JSON object"}
    assert ack == {"ok": False, **body} and sio.sent == [("error", body, "s1")]


def test_a_failing_handler_answers_an_internal_error_and_logs_it(wired, monkeypatch, caplog):
    sessions, sio, _ = wired
    sessions.connect("s1")

    def broken(sid, payload):
        raise RuntimeError("a bug")

    monkeypatch.setattr(sessions, "admit", broken)
    with caplog.at_level(logging.ERROR, "inkbus.sockets"):
        ack = sio.server.handlers[("clear", "/")]("s-bug", {})
    assert ack == {"ok": False, "code": "internal_error"}
    assert sio.sent == [("error", {"code": "internal_error", "message": "the edge failed on that event"}, "s-bug")]
    [record] = caplog.records
    assert record.getMessage() == "socket event clear failed" and record.conn_id == "s-bug"
    assert record.suppressed == 0


json_texts = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=4), kids, max_size=4),
    max_leaves=40,
)  # fmt: skip


@examples(max_examples=400, deadline=None)
@given(json_texts, st.booleans(), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_no_json_text_grows_past_the_bound_when_encoded_again(value, ascii_only, separators):
    """The size check skips re-encoding a packet under limit / JSON_GROWTH: sound only if no text grows more."""
    text = json.dumps(value, ensure_ascii=ascii_only, separators=separators)
    again = json.dumps(json.loads(text), separators=(",", ":"))
    assert len(again) <= sockets.JSON_GROWTH * len(text)


@pytest.mark.parametrize("text", ['"\U0001f600"', "1e15", "[1e15,-1e15]", '{"\U0001f600":"\U0001f600"}'])
def test_the_worst_growths_stay_within_the_bound(text):
    assert len(json.dumps(json.loads(text), separators=(",", ":"))) <= sockets.JSON_GROWTH * len(text)


def test_a_short_packet_is_admitted_unencoded_and_a_long_one_is_measured(settings):
    s = settings.model_copy(update={"socket_max_payload_bytes": 40})
    sessions = connected(s)
    over = {"id": 0, "points": [[0, 0, 0]], "x": "a" * 7}  # 41 bytes as compact JSON
    try:
        sockets.PACKET.chars = 3  # 3 x 12 <= 40: a packet this short cannot hold an oversize payload
        assert sessions.admit("s1", over)[1] is over
        sockets.PACKET.chars = 4  # 48 > 40: measured, and refused
        assert refused(lambda: sessions.admit("s1", over))[0] == "payload_too_large"
    finally:
        sockets.PACKET.chars = None
    assert refused(lambda: sessions.admit("s1", over))[0] == "payload_too_large"
