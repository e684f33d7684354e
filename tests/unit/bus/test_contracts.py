import json
import re

import pytest
from pydantic import ValidationError

from bus import schemas as S
from bus import topology as T
from bus.schemas import ErrorEvent, PredictionEvent, RecognizeJob, Supersede, Timings
from foundation.settings import REPO_ROOT
from tests.settings import TestSettings


def test_job_defaults_and_round_trip():
    job = RecognizeJob(ink={"strokes": [[[0, 0], [1, 1]]]}, drawing_id="d1", seq=3, reply_to="edge-abc")
    again = RecognizeJob.model_validate(job.model_dump(mode="json"))
    assert again == job
    assert job.schema_version == 1 and len(job.job_id) == 32 and job.created_at > 0


@pytest.mark.parametrize(
    "change",
    [
        {"schema_version": 2},
        {"top_k": 0},
        {"top_k": 63},
        {"seq": -1},
        {"reply_to": "a.b"},
        {"job_id": ""},
        {"drawing_id": "x" * 200},
        {"unknown": 1},
        {"ink": "strokes"},
    ],
)
def test_job_rejects_bad_fields(change):
    body = RecognizeJob(ink={"strokes": [[[0, 0]]]}).model_dump(mode="json") | change
    with pytest.raises(ValidationError):
        RecognizeJob.model_validate(body)


def test_events_are_versioned_json():
    ev = PredictionEvent(
        job_id="j",
        top=[{"label": "a", "p": 0.5}],
        model="m",
        worker="w",
        created_at=1.0,
        timings=Timings(queue_ms=1, render_ms=0.1, inference_ms=0.2, batch_size=4),
    )
    body = ev.model_dump(mode="json")
    assert body["type"] == "prediction" and body["schema_version"] == 1
    assert PredictionEvent.model_validate(body) == ev
    assert ErrorEvent(code="x", message="y").model_dump()["type"] == "error"
    with pytest.raises(ValidationError):
        Supersede(drawing_id="d", seq=-1)


def test_routing_keys():
    assert T.event_routing_key("prediction", "edge-1") == "prediction.edge-1"
    assert T.event_routing_key("error", None) == "error.none"
    with pytest.raises(ValueError):
        T.event_routing_key("telemetry", "x")


def test_topology_declares_dead_lettering_and_durability():
    s = TestSettings()
    q = T.job_queue(s.job_queue_type)
    # A classic job queue is non-durable so that a surviving cluster node can re-declare it.
    assert not q.durable and q.exchange is T.JOBS_EXCHANGE and q.routing_key == T.RK_RECOGNIZE
    assert q.queue_arguments["x-dead-letter-exchange"] == T.DEAD_LETTER_EXCHANGE.name
    assert q.queue_arguments["x-queue-type"] == "classic"
    quorum = T.job_queue("quorum")
    assert quorum.durable and quorum.queue_arguments["x-queue-type"] == "quorum"
    dlq = T.dead_letter_queue(s.queues)
    assert dlq.durable and dlq.queue_arguments["x-max-length"] == s.dead_letter_max
    assert dlq.queue_arguments["x-message-ttl"] == s.dead_letter_ttl_ms  # dead letters do not pile up forever
    assert dlq.exchange is T.DEAD_LETTER_EXCHANGE and T.DEAD_LETTER_EXCHANGE.type == "fanout"
    assert dlq.queue_arguments["x-queue-type"] == "quorum"
    for sub in (T.feedback_engine_queue(s.queues), T.bots_queue(s.queues), T.telemetry_queue(s.queues)):
        # what must not be lost is replicated; quorum queues are never auto-delete or exclusive
        assert sub.durable and not sub.auto_delete and not sub.exclusive
        assert sub.queue_arguments["x-queue-type"] == "quorum"
    assert T.EVENTS_EXCHANGE.type == "topic" and T.EVENTS_EXCHANGE.durable
    edge = T.edge_queue("edge-1")
    assert edge.exclusive and edge.auto_delete and edge.routing_key == "*.edge-1"


def _keys(queue) -> set[str]:
    return {b.routing_key for b in queue.bindings}


def test_each_subscriber_hears_exactly_its_events():
    s = TestSettings()
    # worker errors reach the feedback engine, which turns internal errors into operators' alerts
    assert _keys(T.feedback_engine_queue(s.queues)) == {"prediction.*", "error.*"}
    assert _keys(T.bots_queue(s.queues)) == {"feedback.*", "alert.*"}
    assert _keys(T.telemetry_queue(s.queues)) == {"prediction.*", "feedback.*"}
    for q in (T.feedback_engine_queue(s.queues), T.bots_queue(s.queues)):
        assert q.durable and q.queue_arguments == {
            "x-queue-type": "quorum",
            "x-message-ttl": s.feedback_queue_ttl_ms,
            "x-max-length": s.feedback_queue_max,
        }
    assert T.telemetry_queue(s.queues).queue_arguments == {"x-queue-type": "quorum", "x-max-length": s.sink_queue_max}
    control = T.control_queue("w1")
    assert control.exchange is T.CONTROL_EXCHANGE and control.exclusive and control.auto_delete


def test_job_meta_is_bounded_so_every_event_can_carry_it_back():
    deep: dict = {}
    node = deep
    for _ in range(300):  # passes a plain dict[str, Any], then fails to serialise inside the worker
        node["a"] = {}
        node = node["a"]
    shallow = {"sid": "s1", "ink": {"strokes": [[[0, 0], [1, 1]]]}, "note": "[[[[[[[[[[[[[[[[[[[[ not nesting"}
    assert RecognizeJob(ink={"strokes": []}, meta=shallow).meta == shallow
    for meta in (deep, _nested(17), {"blob": "x" * (S.MAX_META_BYTES + 1)}):
        with pytest.raises(ValidationError, match="meta"):
            RecognizeJob(ink={"strokes": []}, meta=meta)
    assert RecognizeJob(ink={"strokes": []}, meta=_nested(S.MAX_META_DEPTH)).meta


def _nested(depth: int) -> dict:
    """A dict whose JSON nests ``depth`` levels, lists and dicts alternating, with brackets in a string."""
    value: object = {"s": '"]}\\'}
    for level in reversed(range(depth - 1)):  # the outermost (level 0) is a dict, as meta must be
        value = {"k": value} if level % 2 == 0 else [value]
    assert S.json_deeper_than(json.dumps(value).encode(), depth - 1)
    assert not S.json_deeper_than(json.dumps(value).encode(), depth)
    return value  # type: ignore[return-value]


def test_queue_names_and_lifetimes_are_the_documented_ones():
    s = TestSettings()
    assert T.edge_queue("edge-1").name == "inkbus.edge.edge-1" and not T.edge_queue("edge-1").durable
    assert T.edge_queue("edge-1").exchange is T.EVENTS_EXCHANGE  # its replies are bound to it
    names = {q.name for q in (T.feedback_engine_queue(s.queues), T.bots_queue(s.queues), T.telemetry_queue(s.queues))}
    assert names == {"inkbus.sub.feedback-engine", "inkbus.sub.bots", "inkbus.sub.telemetry"}
    kept, passing = T.subscriber_queue("a", ["x.*"]), T.subscriber_queue("b", ["x.*"], durable=False)
    assert (kept.durable, kept.auto_delete) == (True, False)  # survives its consumer's restarts
    assert (passing.durable, passing.auto_delete) == (False, True)
    # a quorum queue cannot be transient: only the durable subscription is one
    assert kept.queue_arguments["x-queue-type"] == "quorum" and "x-queue-type" not in passing.queue_arguments
    assert all(b.exchange is T.EVENTS_EXCHANGE for b in kept.bindings)
    assert T.control_queue("w1").name == "inkbus.control.w1"
    assert T.valid_reply_to("edge-1_a") and not T.valid_reply_to("edge.1") and not T.valid_reply_to("x" * 65)


def test_jobs_are_persistent_only_when_asked_for():
    assert T.job_delivery_mode(TestSettings().model_copy(update={"job_persistent": True}).queues) == 2
    assert T.job_delivery_mode(TestSettings().model_copy(update={"job_persistent": False}).queues) == 1


def test_the_bus_reads_only_its_part_of_the_settings():
    """Connections take ``Settings.broker``, declarations ``Settings.queues``; only the migration command (an
    entry point) takes the whole Settings."""
    whole = [
        p.name
        for p in (REPO_ROOT / "bus").glob("*.py")
        if p.name != "migrate.py" and re.search(r"\bSettings\b", p.read_text())
    ]
    assert whole == []
    s = TestSettings().model_copy(update={"broker_heartbeat_s": 7, "dead_letter_max": 5, "job_queue_type": "quorum"})
    assert (s.broker.url, s.broker.heartbeat_s) == (s.broker_url, 7)
    assert (s.queues.dead_letter_max, s.queues.job_queue_type) == (5, "quorum")
    assert T.dead_letter_queue(s.queues).queue_arguments["x-max-length"] == 5
