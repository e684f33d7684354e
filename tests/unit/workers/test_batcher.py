"""The batching consumer's triage, answers and acknowledgements, without a broker.

Each delivery is a real ``kombu.Message`` on a ledger channel that records how the broker was told to
settle it (kombu itself refuses a second settlement); events go through a real kombu producer on the
in-process ``memory://`` transport and are read back as JSON from a queue bound to every route.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from kombu import Connection, Producer, Queue

from bus.schemas import RecognizeJob, Supersede
from bus.topology import EVENTS_EXCHANGE, JOB_QUEUE_NAME, JOBS_EXCHANGE, RK_RECOGNIZE
from tests.helpers import Ledger, sample_ink, wait_until
from workers.batcher import BatchingConsumer
from workers.engine import RecognitionEngine

EDGE = "edge-unit"


class Events:
    """Every event published on the memory transport, as the JSON a subscriber receives."""

    def __init__(self):
        self.conn = Connection("memory://")
        ch = self.conn.channel()
        self.tap = Queue(f"tap-{uuid.uuid4().hex[:8]}", EVENTS_EXCHANGE, routing_key="#", auto_delete=True)(ch)
        self.tap.declare()
        self.producer = Producer(ch, exchange=EVENTS_EXCHANGE, serializer="json")

    def read(self) -> list[tuple[str, dict]]:
        out = []
        while (m := self.tap.get(no_ack=True)) is not None:
            out.append((m.delivery_info["routing_key"], json.loads(m.body)))
        return out

    def close(self):
        self.conn.release()


@pytest.fixture
def worker(settings, recognizer, events):
    w = BatchingConsumer(settings, RecognitionEngine(recognizer, "unit-worker"), url="memory://")
    w._conn = events.conn
    return w


def job(i: int = 0, **kw) -> dict:
    row = sample_ink()[i]
    return RecognizeJob(ink={"strokes": row["strokes"]}, reply_to=EDGE, top_k=3, **kw).model_dump(mode="json")


def test_answers_are_published_then_acked_and_bad_ink_is_dead_lettered(worker, events):
    ledger = Ledger()
    bad_ink = job(1) | {"ink": {"strokes": [[[0, "x"]]]}}
    batch = [ledger.deliver(job(0)), ledger.deliver(bad_ink), ledger.deliver(job(2))]
    worker._flush(batch, events.producer)
    out = events.read()
    assert [(rk, e["type"]) for rk, e in out] == [
        (f"prediction.{EDGE}", "prediction"),
        (f"error.{EDGE}", "error"),
        (f"prediction.{EDGE}", "prediction"),
    ]
    assert [e["job_id"] for _, e in out] == [b["job_id"] for b, _ in batch]
    assert out[1][1]["code"] == "invalid_ink"
    assert [ledger.outcome(d) for d in batch] == ["acked", "dead-lettered", "acked"]
    assert (worker.stats["answered"], worker.stats["invalid"], worker.stats["batches"]) == (2, 1, 1)


def test_a_job_that_breaks_the_schema_is_dead_lettered_unanswered(worker, events):
    deep: dict = {}
    node = deep
    for _ in range(300):  # nesting a plain dict accepts, and that no event can carry back
        node["a"] = {}
        node = node["a"]
    ledger = Ledger()
    batch = [ledger.deliver(job(0) | {"schema_version": 99}), ledger.deliver(job(1) | {"meta": deep})]
    batch.append(ledger.deliver(["not", "a", "job"]))
    worker._flush(batch, events.producer)
    assert events.read() == []
    assert [ledger.outcome(d) for d in batch] == ["dead-lettered"] * 3
    assert worker.stats["poison"] == 3 and worker.stats["batches"] == 0


def test_a_job_nobody_waits_for_is_acked_without_computing(worker, events):
    ledger = Ledger()
    late = ledger.deliver(job(0, deadline=time.time() - 1))
    worker._flush([late], events.producer)
    assert events.read() == [] and ledger.outcome(late) == "acked"
    assert worker.stats["expired"] == 1 and worker.stats["batches"] == 0


def test_a_redelivered_job_is_answered_from_the_cache_not_computed_again(worker, events):
    body = job(4)
    first = Ledger()
    worker._flush([first.deliver(body)], events.producer)
    (answer,) = events.read()
    again = Ledger()  # a redelivery arrives on a new channel, after the worker answered but before its ack counted
    redelivered = again.deliver(body)
    worker._flush([redelivered], events.producer)
    assert events.read() == [answer]  # the very same event: same produced_at, same timings
    assert again.outcome(redelivered) == "acked"
    assert worker.stats["duplicates"] == 1 and worker.stats["answered"] == 1 and worker.stats["batches"] == 1


def test_in_one_batch_the_newest_job_of_a_drawing_supersedes_the_others(worker, events):
    ledger = Ledger()
    batch = [ledger.deliver(job(0, drawing_id="d1", seq=s)) for s in (1, 3, 2)]
    other = ledger.deliver(job(0, drawing_id="d2", seq=1))
    worker._flush([*batch, other], events.producer)
    answered = [(e["drawing_id"], e["seq"]) for _, e in events.read()]
    assert answered == [("d1", 3), ("d2", 1)]
    assert [ledger.outcome(d) for d in batch] == ["acked"] * 3  # stale, not broken: nothing to dead-letter
    assert worker.stats["superseded"] == 2


def test_a_supersede_notice_makes_an_older_job_delivered_later_stale(worker, events):
    worker._on_control(Supersede(drawing_id="d1", seq=5).model_dump(mode="json"), None)
    worker._on_control({"type": "supersede", "drawing_id": "d1"}, None)  # malformed notices are ignored
    worker._on_control(Supersede(drawing_id="d1", seq=2).model_dump(mode="json"), None)  # never lowers it
    ledger = Ledger()
    stale, current = ledger.deliver(job(0, drawing_id="d1", seq=4)), ledger.deliver(job(0, drawing_id="d1", seq=5))
    worker._flush([stale], events.producer)
    assert events.read() == [] and ledger.outcome(stale) == "acked" and worker.stats["superseded"] == 1
    worker._flush([current], events.producer)
    assert [e["seq"] for _, e in events.read()] == [5]


def test_one_job_that_cannot_be_rendered_costs_only_its_own_answer(worker, events, fail_features_on_one_ink):
    ledger = Ledger()
    batch = [ledger.deliver(job(i)) for i in range(5)]
    batch.insert(3, ledger.deliver(job(5) | {"ink": {"strokes": [[[0, 0], [777, 1]]]}}))
    worker._flush(batch, events.producer)
    out = events.read()
    assert [e["type"] for _, e in out] == ["prediction"] * 3 + ["error"] + ["prediction"] * 2
    assert [e["code"] for _, e in out if e["type"] == "error"] == ["internal_error"]  # one job, one alert
    assert [ledger.outcome(d) for d in batch] == ["acked"] * 3 + ["dead-lettered"] + ["acked"] * 2
    assert worker.stats["failed"] == 1 and worker.stats["answered"] == 5


def test_an_answer_that_cannot_be_published_dead_letters_its_job_alone(worker, events):
    ledger = Ledger()
    batch = [ledger.deliver(job(i)) for i in range(3)]
    bad_id = batch[1][0]["job_id"]

    class Refusing(Producer):
        def publish(self, body, **kw):
            if json.loads(body)["job_id"] == bad_id:  # the worker publishes its events as JSON text
                raise TypeError("cannot serialise this event")
            return super().publish(body, **kw)

    worker._flush(batch, Refusing(events.producer.channel, exchange=EVENTS_EXCHANGE, serializer="json"))
    assert [e["job_id"] for _, e in events.read()] == [batch[0][0]["job_id"], batch[2][0]["job_id"]]
    assert [ledger.outcome(d) for d in batch] == ["acked", "dead-lettered", "acked"]


def test_a_broken_connection_leaves_the_jobs_for_the_broker_to_redeliver(worker, events):
    ledger = Ledger()
    batch = [ledger.deliver(job(i)) for i in range(2)]

    class Gone(Producer):
        def publish(self, body, **kw):
            raise ConnectionResetError("the broker went away")

    with pytest.raises(ConnectionResetError):
        worker._flush(batch, Gone(events.producer.channel, exchange=EVENTS_EXCHANGE, serializer="json"))
    assert [ledger.outcome(d) for d in batch] == [None, None]


def test_a_poison_job_on_the_bus_is_dead_lettered_once_and_the_worker_keeps_serving(settings, recognizer, events):
    """The whole consumer loop on the memory transport: before meta was bounded, this job failed outside
    the worker's error handling, and the broker redelivered it on every reconnect."""
    ch = events.conn.channel()
    Queue(JOB_QUEUE_NAME, JOBS_EXCHANGE, routing_key=RK_RECOGNIZE)(ch).declare()
    ch.queue_purge(JOB_QUEUE_NAME)
    deep: dict = {}
    node = deep
    for _ in range(300):
        node["a"] = {}
        node = node["a"]
    raw = Producer(ch, exchange=JOBS_EXCHANGE, serializer="json")
    raw.publish(job(0) | {"meta": deep}, routing_key=RK_RECOGNIZE)
    good = job(1)
    raw.publish(good, routing_key=RK_RECOGNIZE)
    w = BatchingConsumer(settings, RecognitionEngine(recognizer, "memory-unit"), url="memory://")
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: w.stats["answered"] == 1, 20, what="the good job answered")
        assert [e["job_id"] for _, e in events.read()] == [good["job_id"]]
        assert w.stats["poison"] == 1 and w.stats["reconnects"] == 0
    finally:
        w.stop()
        thread.join(5)
