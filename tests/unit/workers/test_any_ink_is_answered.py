"""Property: any ink within the documented limits, through the real worker (triage, engine, model,
answers, settlements; in-process, memory:// producer), gets exactly one answer, a prediction or a coded
error, never an exception, and costs a bounded amount of work (pen positions drawn, no subnormal model
input), not wall time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu import Connection, Producer, Queue

import ml.raster
from bus.schemas import RecognizeJob
from bus.topology import EVENTS_EXCHANGE
from ml.ink import MAX_ABS_COORD, MAX_POINTS, MAX_STROKES
from tests.helpers import Ledger
from workers.batcher import BatchingConsumer
from workers.engine import RecognitionEngine

INK_CODES = {"invalid_ink", "empty_ink", "degenerate_ink", "non_finite", "out_of_range", "too_many_strokes"}
INK_CODES |= {"too_many_points"}

coords = st.one_of(
    st.floats(-MAX_ABS_COORD, MAX_ABS_COORD, allow_subnormal=True),
    st.integers(-int(MAX_ABS_COORD), int(MAX_ABS_COORD)),
    st.sampled_from([0, 5e-324, -5e-324, 1e-310, MAX_ABS_COORD, -MAX_ABS_COORD]),
)
point = st.one_of(st.tuples(coords, coords), st.tuples(coords, coords, st.floats(0, 1e9)))


@st.composite
def patterned_stroke(draw, max_points: int):
    """Long strokes, cheaply: a pattern repeated (zig-zags, a point held still, a scribble)."""
    n = draw(st.integers(1, max_points))
    corners = draw(st.lists(point, min_size=1, max_size=4))
    return [list(corners[i % len(corners)]) for i in range(n)]


@st.composite
def inks(draw):
    n_strokes = draw(st.integers(1, MAX_STROKES))
    budget = MAX_POINTS
    strokes = []
    for _ in range(n_strokes):
        per = max(1, budget // max(1, n_strokes - len(strokes)))
        stroke = draw(st.one_of(st.lists(point.map(list), min_size=0, max_size=min(per, 8)), patterned_stroke(per)))
        budget -= len(stroke)
        strokes.append(stroke)
    return {"strokes": strokes}


@pytest.fixture(scope="module")
def rig(settings, recognizer):
    conn = Connection("memory://")
    ch = conn.channel()
    tap = Queue("tap-any-ink", EVENTS_EXCHANGE, routing_key="#", auto_delete=True)(ch)
    tap.declare()
    worker = BatchingConsumer(settings, RecognitionEngine(recognizer, "property"), url="memory://")
    worker._conn = conn
    yield worker, Producer(ch, exchange=EVENTS_EXCHANGE, serializer="json"), tap
    conn.release()


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(inks(), min_size=1, max_size=3))
def test_any_ink_within_the_limits_is_answered_once_at_bounded_cost(rig, batch):
    worker, producer, tap = rig
    drawn = []
    real = ml.raster.render_dabs

    def counted(dabs, *args, **kw):
        drawn.extend(len(d) for d in dabs)
        return real(dabs, *args, **kw)

    recognizer = worker.engine.recognizer

    def checked(forward):  # a float32 subnormal multiplies the forward pass's cost ~100x
        def check(*inputs):
            for x in inputs:
                if x.dtype == np.float32:
                    assert not ((x != 0) & (np.abs(x) < np.finfo(np.float32).tiny)).any(), "subnormal model input"
            return forward(*inputs)

        return check

    ledger = Ledger()
    deliveries = [ledger.deliver(RecognizeJob(ink=ink, reply_to="prop").model_dump(mode="json")) for ink in batch]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ml.raster, "render_dabs", counted)
        for name in ("probabilities", "first_logp", "second_logp"):  # one forward, or a cascade's two stages
            mp.setattr(recognizer, name, checked(getattr(recognizer, name)))
        worker._flush(deliveries, producer)
    answers = {}
    while (m := tap.get(no_ack=True)) is not None:
        event = json.loads(m.body)
        assert event["job_id"] not in answers, "answered twice"
        answers[event["job_id"]] = event
    for body, _ in deliveries:
        event = answers[body["job_id"]]
        if event["type"] == "prediction":
            assert event["top"] and np.isfinite([t["p"] for t in event["top"]]).all()
            assert ledger.outcome((body, _)) == "acked"
        else:
            assert event["code"] in INK_CODES, event
            assert ledger.outcome((body, _)) == "dead-lettered"
    strokes = [len([s for s in ink["strokes"] if s]) for ink in batch]
    assert sum(drawn) <= sum(ml.raster.MAX_DABS + n for n in strokes)
