"""DrawingSessions without a bus: seq numbering, staleness, limits and the token bucket, deterministically."""

from __future__ import annotations

import pytest

from web.sockets import DrawingSessions, EventError, TokenBucket


class FakeSocketIO:
    def __init__(self):
        self.sent: list[tuple[str, dict, str]] = []

    def emit(self, event, payload, to=None):
        self.sent.append((event, payload, to))


class FakePublisher:
    def __init__(self):
        self.forgotten: list[str] = []

    def forget(self, drawing_id):
        self.forgotten.append(drawing_id)


class FakeBridge:
    edge_id = "edge-test"

    def __init__(self):
        self.jobs = []
        self.publisher = FakePublisher()
        self.stats = (0, 1)

    def job_queue_stats(self, max_age_s=1.0, block=True):
        return self.stats

    def submit(self, job):
        self.jobs.append(job)


def pen_up(sessions, stroke_id, points=((0, 0, 0), (10, 12, 5))):
    return sessions.stroke("s1", {"id": stroke_id, "points": [list(p) for p in points], "final": True})


def answer(sessions, seq, sid="s1", source="socket", label="a"):
    sessions.on_bus_event(
        {
            "type": "prediction",
            "seq": seq,
            "top": [{"label": label, "p": 0.9}],
            "model": "m-1",
            "meta": {"sid": sid, "source": source, "seq": seq},
        }
    )


def test_a_prediction_says_where_its_time_went(world):
    from web.sockets import stages_ms

    sessions, sio, _ = world
    assert pen_up(sessions, 0) == {"ok": True, "seq": 1}
    created = 1000.0
    body = {
        "type": "prediction",
        "seq": 1,
        "top": [{"label": "a", "p": 0.9}],
        "model": "m-1",
        "meta": {"sid": "s1", "source": "socket", "seq": 1},
        "created_at": created,
        "produced_at": created + 0.030,
        "timings": {"queue_ms": 12.0, "render_ms": 0.5, "inference_ms": 1.0, "batch_size": 8},
    }
    assert stages_ms(body, now=created + 0.034) == {"queue": 12.0, "compute": 18.0, "reply": 4.0, "batch": 8}
    sessions.on_bus_event(body)
    (sent,) = [p for e, p, _ in sio.sent if e == "prediction"]
    assert set(sent["stages_ms"]) == {"queue", "compute", "reply", "batch"} and sent["stages_ms"]["batch"] == 8
    assert stages_ms({**body, "timings": None}) is None
    assert stages_ms({**body, "created_at": float("nan")}) is None


def predictions(sio):
    return [p["seq"] for e, p, _ in sio.sent if e == "prediction"]


def test_pen_ups_publish_jobs_with_increasing_seq_for_one_drawing(world, settings):
    sessions, _, bridge = world
    assert sessions.stroke("s1", {"id": 0, "points": [[0, 0, 0]], "final": False}) == {"ok": True}
    assert sessions.stroke("s1", {"id": 0, "points": [[5, 9, 16]], "final": True}) == {"ok": True, "seq": 1}
    assert pen_up(sessions, 1) == {"ok": True, "seq": 2}
    j1, j2 = bridge.jobs
    assert (j1.seq, j2.seq) == (1, 2) and j1.drawing_id == j2.drawing_id
    assert j1.ink == {"strokes": [[[0, 0, 0], [5, 9, 16]]]}
    assert len(j2.ink["strokes"]) == 2
    assert j2.reply_to == "edge-test" and j2.top_k == settings.socket_top_k
    assert j2.meta == {"sid": "s1", "source": "socket", "seq": 2}


def test_an_older_answer_is_never_emitted_after_a_newer_one(world):
    sessions, sio, _ = world
    pen_up(sessions, 0)
    pen_up(sessions, 1)
    answer(sessions, 2)
    answer(sessions, 1)  # late: the page already shows the answer to seq 2
    answer(sessions, 2)  # duplicate
    assert predictions(sio) == [2]
    _, payload, to = sio.sent[0]
    assert to == "s1" and set(payload) == {"seq", "top", "shape", "model", "latency_ms", "stages_ms"}
    assert isinstance(payload["latency_ms"], float) and payload["latency_ms"] >= 0


def test_answers_from_before_an_undo_or_clear_are_stale(world):
    sessions, sio, bridge = world
    pen_up(sessions, 0)
    pen_up(sessions, 1)  # seq 2
    assert sessions.undo("s1", {}) == {"ok": True, "seq": 3}
    assert bridge.jobs[-1].seq == 3 and len(bridge.jobs[-1].ink["strokes"]) == 1
    answer(sessions, 2)  # describes the drawing before the undo
    answer(sessions, 3)
    assert predictions(sio) == [3]
    pen_up(sessions, 1)  # seq 4
    assert sessions.clear("s1", {}) == {"ok": True, "seq": 5}
    answer(sessions, 4)  # the drawing it describes is gone
    assert predictions(sio) == [3]
    assert pen_up(sessions, 0)["seq"] == 6  # numbering restarts at stroke 0 after a clear
    answer(sessions, 6)
    assert predictions(sio) == [3, 6]


def test_undo_to_an_empty_drawing_publishes_nothing(world):
    sessions, sio, bridge = world
    pen_up(sessions, 0)
    assert sessions.undo("s1", {}) == {"ok": True, "seq": 2}
    assert sessions.undo("s1", None) == {"ok": True, "seq": 3}  # nothing left to undo: harmless
    assert [j.seq for j in bridge.jobs] == [1] and sio.sent == []


@pytest.mark.parametrize(
    ("points", "code"),
    [([], "empty_ink"), ([[4, 4, 0], [4, 4, 9]], "degenerate_ink")],
)
def test_empty_or_degenerate_drawings_are_answered_by_the_edge(world, points, code):
    sessions, _, bridge = world
    with pytest.raises(EventError) as err:
        sessions.stroke("s1", {"id": 0, "points": points, "final": True})
    assert err.value.code == code and err.value.payload()["seq"] == 1
    assert bridge.jobs == []


def test_an_edge_error_makes_older_answers_stale(world):
    sessions, sio, _ = world
    pen_up(sessions, 0)  # seq 1, in flight
    sessions.clear("s1", {})  # seq 2
    with pytest.raises(EventError):
        pen_up(sessions, 0, points=[(1, 1, 0)])  # seq 3: a dot
    answer(sessions, 1)
    assert predictions(sio) == []


def test_worker_errors_reach_the_client_with_their_seq(world):
    sessions, sio, _ = world
    pen_up(sessions, 0)
    sessions.on_bus_event(
        {
            "type": "error",
            "code": "invalid_ink",
            "message": "ink has no extent",
            "meta": {"sid": "s1", "source": "socket", "seq": 1},
        }
    )
    assert sio.sent == [("error", {"code": "invalid_ink", "message": "ink has no extent", "seq": 1}, "s1")]


def test_foreign_and_orphan_events_are_ignored(world):
    sessions, sio, bridge = world
    pen_up(sessions, 0)
    answer(sessions, 1, source="http")
    answer(sessions, 1, sid="someone-else")
    sessions.on_bus_event({"type": "prediction", "meta": "not a dict"})
    sessions.on_bus_event({})
    drawing_id = bridge.jobs[0].drawing_id
    sessions.disconnect("s1")
    assert bridge.publisher.forgotten == [drawing_id]
    answer(sessions, 1)  # the client left
    assert sio.sent == []


@pytest.mark.parametrize(("stats", "code"), [(None, "broker_unavailable"), ((0, 0), "no_workers")])
def test_no_broker_or_no_worker_is_an_error_not_a_silent_wait(world, stats, code):
    sessions, _, bridge = world
    bridge.stats = stats
    with pytest.raises(EventError) as err:
        pen_up(sessions, 0)
    assert err.value.code == code and err.value.seq == 1


def test_limits_on_strokes_and_points_per_drawing(settings):
    s = settings.model_copy(update={"socket_max_strokes": 2, "socket_max_points_per_drawing": 5})
    sessions = DrawingSessions(FakeSocketIO(), FakeBridge(), s)
    sessions.connect("s1")
    pen_up(sessions, 0)
    pen_up(sessions, 1)
    with pytest.raises(EventError) as err:
        pen_up(sessions, 2)
    assert err.value.code == "too_many_strokes"
    sessions.undo("s1", {})
    with pytest.raises(EventError) as err:
        pen_up(sessions, 1, points=[(i, i, i) for i in range(4)])
    assert err.value.code == "too_many_points"
    assert pen_up(sessions, 1, points=[(0, 0, 0), (3, 3, 3), (5, 1, 9)])["ok"]


def test_rate_limited_notice_is_sent_at_most_once_a_second(world):
    sessions, _, _ = world
    exc = EventError("rate_limited", "slow down")
    assert sessions.should_tell("s1", exc) is True
    assert sessions.should_tell("s1", exc) is False
    assert sessions.should_tell("s1", EventError("invalid_event", "x")) is True


def test_token_bucket_allows_a_burst_then_the_rate(monkeypatch):
    import kombu.utils.limits

    now = [0.0]
    monkeypatch.setattr(kombu.utils.limits, "monotonic", lambda: now[0])  # kombu's bucket reads this clock
    bucket = TokenBucket(2.0, 3)  # as DrawingSessions makes it: rate, burst
    assert [bucket.can_consume() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back
    assert [bucket.can_consume() for _ in range(2)] == [True, False]
    now[0] += 100  # never more than the burst
    assert sum(bucket.can_consume() for _ in range(10)) == 3


def test_public_views_of_a_drawing_for_the_practice_check(world):
    sessions, _, _ = world
    pen_up(sessions, 0)
    d = sessions.drawing("s1")
    copy = sessions.ink(d)
    copy[0].append([9.0, 9.0])
    assert len(d.strokes[0]) == 2  # a copy: the practice job cannot change the drawing
    d.emitted = 4
    assert sessions.shows("s1", 4) and not sessions.shows("s1", 3) and not sessions.shows("gone", 4)
