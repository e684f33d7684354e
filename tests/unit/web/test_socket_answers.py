"""The drawing protocol's answers measured on a clock of the test's own: the latency a page is told, the stages'
rounding, a worker's own error code, the debug lines that trace a job, and the log budget of each connection."""

from __future__ import annotations

import logging

import pytest

from tests.unit.web.test_socket_rules import LINE, FakeBridge, Observer, WiredSocketIO, prediction, stroke
from web import sockets
from web.sockets import register_socket_handlers, stages_ms


@pytest.fixture
def wired(settings):
    sio = WiredSocketIO()
    return register_socket_handlers(sio, FakeBridge(), settings), sio, None


class Clock:
    """``time`` for the sockets module alone: ``perf_counter`` reads the values it is given, in turn."""

    def __init__(self, *readings: float):
        self.readings = list(readings)

    def perf_counter(self) -> float:
        return self.readings.pop(0)

    def time(self) -> float:
        return 1_900_000_000.0

    def monotonic(self) -> float:
        return 50.0


def test_the_latency_is_pen_up_to_answer_in_milliseconds_to_a_microsecond(world, monkeypatch):
    sessions, sio, _ = world
    sessions.observer = obs = Observer()
    monkeypatch.setattr(sockets, "time", Clock(10.0, 10.2501234))
    stroke(sessions, {"id": 0, "points": LINE, "final": True})
    sessions.on_bus_event(prediction(1))
    [(_, payload, _)] = sio.sent
    assert payload["latency_ms"] == 250.123
    assert obs.records == [("socket", "ok", pytest.approx(0.250123), None)]


def test_stages_keep_two_decimals_of_a_millisecond():
    body = {"created_at": 100.0, "produced_at": 100.0123456, "timings": {"queue_ms": 1.0, "batch_size": 2}}
    stages = stages_ms(body, now=100.0200123)
    assert stages == {"queue": 1.0, "compute": 11.35, "reply": 7.67, "batch": 2}
    assert isinstance(stages["compute"], float) and isinstance(stages["reply"], float)


def test_at_debug_level_a_jobs_publication_and_its_answer_are_traced(world, caplog):
    sessions, _, bridge = world
    with caplog.at_level(logging.DEBUG, "inkbus.sockets"):
        stroke(sessions, {"id": 0, "points": LINE, "final": True})
        [job] = bridge.jobs
        sessions.on_bus_event(prediction(1, job_id=job.job_id))
    published, routed = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert published.getMessage() == "job published"
    assert (published.job_id, published.conn_id, published.drawing_id) == (job.job_id, "s1", job.drawing_id)
    assert routed.getMessage() == "answer routed"
    assert (routed.job_id, routed.conn_id, routed.type) == (job.job_id, "s1", "prediction")


def test_one_connections_failures_do_not_use_up_anothers_log_lines(wired, monkeypatch, caplog):
    sessions, sio, _ = wired

    def broken(sid, payload):
        raise RuntimeError("a bug")

    monkeypatch.setattr(sessions, "admit", broken)
    monkeypatch.setattr(sockets, "LOG_LIMIT", sockets.LogLimiter(burst=2))
    clear = sio.server.handlers[("clear", "/")]
    with caplog.at_level(logging.ERROR, "inkbus.sockets"):
        for _ in range(5):
            clear("noisy", {})
        clear("quiet", {})
    assert [r.conn_id for r in caplog.records] == ["noisy", "noisy", "quiet"]


def test_a_closed_connections_log_budget_is_forgotten(world, monkeypatch):
    sessions, _, _ = world
    limiter = sockets.LogLimiter(burst=1)
    monkeypatch.setattr(sockets, "LOG_LIMIT", limiter)
    assert limiter.allow("s1") == (True, 0) and limiter.allow("s1") == (False, 0)
    sessions.disconnect("s1")
    assert limiter.allow("s1") == (True, 0)  # a new connection with a reused id starts with a full budget


def test_a_flood_hears_rate_limited_again_exactly_one_second_later(world, monkeypatch):
    from web.sockets import EventError

    sessions, _, _ = world
    clock = Clock()
    monkeypatch.setattr(sockets, "time", clock)
    limited = EventError("rate_limited", "too many events")
    readings = iter([100.0, 100.999, 101.0, 101.5, 102.0])
    clock.monotonic = lambda: next(readings)
    assert [sessions.should_tell("s1", limited) for _ in range(5)] == [True, False, True, False, True]


def test_undo_gives_back_exactly_the_points_of_the_last_stroke(world):
    sessions, _, _ = world
    stroke(sessions, {"id": 0, "points": [[0, 0], [1, 1], [2, 2]], "final": True})
    stroke(sessions, {"id": 1, "points": [[5, 5], [6, 6]], "final": True})
    sessions.undo("s1", {})
    assert sessions.drawing("s1").points == 3
