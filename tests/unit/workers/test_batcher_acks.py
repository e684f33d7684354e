"""The batching consumer's settlements and counts with a stand-in recogniser (no model): what is acked, what is
dead-lettered, what is answered from the cache, what is skipped, the swap hook and the consumer loop on
``memory://``."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import numpy as np
from kombu import Producer, Queue

from bus.schemas import RecognizeJob, Supersede
from bus.topology import ALERT_SOURCE, EVENTS_EXCHANGE, JOB_QUEUE_NAME, JOBS_EXCHANGE, RK_RECOGNIZE, event_routing_key
from ml.metadata import CLASSES
from ml.serving import BaseRecognizer
from tests.helpers import Ledger, wait_until
from workers import batcher
from workers.batcher import _LRU, BatchingConsumer, default_worker_name
from workers.engine import RecognitionEngine

EDGE = "edge-acks"
INK = {"strokes": [[[0, 0], [10, 40], [20, 0]]]}


class Fixed(BaseRecognizer):
    """Always most sure of ``label``; counts the inks it was asked to recognise."""

    runtime = "fixed"

    def __init__(self, label="4", version="fixed-1"):
        self.classes, self.version, self.inputs, self.meta = CLASSES, version, ("image",), {}
        self._read_meta()
        self.label, self.seen = label, 0

    def probabilities(self, images):
        self.seen += len(images)
        p = np.full((len(images), len(CLASSES)), 0.1 / (len(CLASSES) - 1), np.float32)
        p[:, CLASSES.index(self.label)] = 0.9
        return p


def job(**kw) -> dict:
    return RecognizeJob(ink=INK, reply_to=EDGE, top_k=2, **kw).model_dump(mode="json")


def test_an_answer_is_published_to_its_edge_then_acked_and_counted(worker, events, model):
    ledger = Ledger()
    d = ledger.deliver(job())
    worker._flush([d], events.producer)
    [(rk, event)] = events.read()
    assert rk == f"prediction.{EDGE}" and event["job_id"] == d[0]["job_id"]
    assert event["top"][0]["label"] == "4" and len(event["top"]) == 2
    assert ledger.outcome(d) == "acked" and model.seen == 1
    assert dict(worker.stats) == {"answered": 1, "batches": 1}


def test_bad_ink_is_answered_then_dead_lettered_and_counted_invalid(worker, events, model):
    ledger = Ledger()
    d = ledger.deliver(job() | {"ink": {"strokes": [[[0, "x"]]]}})
    worker._flush([d], events.producer)
    [(rk, event)] = events.read()
    assert rk == f"error.{EDGE}" and event["code"] == "invalid_ink"
    assert ledger.outcome(d) == "dead-lettered" and model.seen == 0
    assert worker.stats["invalid"] == 1 and worker.stats["failed"] == 0 and worker.stats["answered"] == 0


def test_a_batch_the_engine_cannot_run_is_run_job_by_job(worker, events, monkeypatch, caplog):
    calls = []
    real = worker.engine.run

    def run(jobs):
        calls.append(len(jobs))
        if len(jobs) > 1:
            raise MemoryError("a batch-only failure")
        if jobs[0].meta.get("bad"):
            raise ValueError("this job alone")
        return real(jobs)

    monkeypatch.setattr(worker.engine, "run", run)
    ledger = Ledger()
    batch = [ledger.deliver(job()), ledger.deliver(job(meta={"bad": 1})), ledger.deliver(job())]
    with caplog.at_level(logging.ERROR, "inkbus.worker"):
        worker._flush(batch, events.producer)
    assert calls == [3, 1, 1, 1]
    out = events.read()
    assert [e["type"] for _, e in out] == ["prediction", "error", "prediction"]
    assert out[1][1]["code"] == "internal_error" and out[1][1]["message"] == "recognition failed: ValueError"
    assert [ledger.outcome(d) for d in batch] == ["acked", "dead-lettered", "acked"]
    assert worker.stats["failed"] == 1 and worker.stats["answered"] == 2 and worker.stats["batches"] == 1
    assert "batch of 3 failed; running its jobs one at a time" in caplog.messages
    [alone] = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert alone.job_id == batch[1][0]["job_id"] and alone.exc_info[0] is ValueError


def test_a_redelivered_answer_is_resent_on_its_route_and_acked_without_computing(worker, events, model):
    body = job()
    worker._flush([Ledger().deliver(body)], events.producer)
    [first] = events.read()
    again = Ledger()
    d = again.deliver(body)
    worker._flush([d], events.producer)
    assert events.read() == [first] and again.outcome(d) == "acked"
    assert model.seen == 1 and worker.stats["duplicates"] == 1 and worker.stats["batches"] == 1


def test_the_answer_cache_forgets_the_oldest_answer_first():
    lru = _LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    lru.put("a", 3)  # a is now the newest
    lru.put("c", 4)
    assert dict(lru) == {"a": 3, "c": 4}


def test_a_job_whose_deadline_passed_is_acked_uncomputed_and_one_still_awaited_is_answered(worker, events, model):
    ledger = Ledger()
    late, live = ledger.deliver(job(deadline=time.time() - 1)), ledger.deliver(job(deadline=time.time() + 60))
    worker._flush([late, live], events.producer)
    assert [e["job_id"] for _, e in events.read()] == [live[0]["job_id"]]
    assert ledger.outcome(late) == "acked" and worker.stats["expired"] == 1 and model.seen == 1


def test_jobs_of_one_drawing_with_the_same_seq_are_all_answered(worker, events):
    ledger = Ledger()
    batch = [ledger.deliver(job(drawing_id="d1", seq=2)) for _ in range(2)]
    worker._flush(batch, events.producer)
    assert len(events.read()) == 2 and worker.stats["superseded"] == 0


def test_an_older_job_after_a_newer_one_was_answered_is_skipped(worker, events, model):
    ledger = Ledger()
    worker._flush([ledger.deliver(job(drawing_id="d1", seq=3))], events.producer)
    old = ledger.deliver(job(drawing_id="d1", seq=1))
    worker._flush([old], events.producer)
    assert len(events.read()) == 1 and ledger.outcome(old) == "acked"
    assert worker.stats["superseded"] == 1 and model.seen == 1


def test_jobs_without_a_drawing_are_never_superseded(worker, events):
    worker._on_control(Supersede(drawing_id="d1", seq=9).model_dump(mode="json"), None)
    ledger = Ledger()
    worker._flush([ledger.deliver(job()), ledger.deliver(job(drawing_id="d2", seq=0))], events.producer)
    assert len(events.read()) == 2


def test_a_notice_at_the_same_seq_leaves_that_job_current(worker, events):
    worker._on_control(Supersede(drawing_id="d1", seq=4).model_dump(mode="json"), None)
    ledger = Ledger()
    worker._flush([ledger.deliver(job(drawing_id="d1", seq=4))], events.producer)
    assert len(events.read()) == 1 and worker.stats["superseded"] == 0


def test_a_promotion_notice_goes_to_the_swapper_and_is_not_a_supersede(worker):
    seen = []
    worker.swapper = type("Swapper", (), {"on_control": lambda self, body: seen.append(body)})()
    note = {"type": "model.promoted", "drawing_id": "d1", "seq": 5}
    worker._on_control(note, None)
    assert seen == [note] and "d1" not in worker._latest
    worker.swapper = None
    worker._on_control(note, None)  # no swapper: ignored
    assert "d1" not in worker._latest


def test_undecodable_and_non_dict_control_messages_are_ignored(worker):
    worker._on_control(["not", "a", "notice"], None)
    worker._on_control({"drawing_id": "d1", "seq": "late"}, None)
    assert len(worker._latest) == 0


def test_each_undecodable_job_is_dead_lettered_and_counted_poison(worker, caplog):
    ledger = Ledger()
    _, message = ledger.deliver({})
    _, other = ledger.deliver({})
    with caplog.at_level(logging.ERROR, "inkbus.worker"):
        worker._on_poison(message, ValueError("not json"))
        worker._on_poison(other, ValueError("not json either"))
    assert ledger.settled == {message.delivery_tag: "dead-lettered", other.delivery_tag: "dead-lettered"}
    assert worker.stats["poison"] == 2
    assert caplog.messages == [
        "undecodable job dead-lettered: not json",
        "undecodable job dead-lettered: not json either",
    ]


def test_each_lost_connection_counts_a_reconnect_and_forgets_the_unacked_buffer(worker):
    worker._on_job({"job_id": "x"}, object())
    assert len(worker._buf) == 1
    worker.on_disconnect(ConnectionResetError())
    worker.on_disconnect(ConnectionResetError())
    worker.on_release()
    assert worker._buf == [] and worker.stats["reconnects"] == 2


class Swapper:
    def __init__(self, current, alerts=()):
        self._current, self.alerts = current, list(alerts)

    def current(self):
        return self._current

    def take_alerts(self):
        out, self.alerts = self.alerts, []
        return out


def test_between_batches_the_swapped_model_takes_over_and_its_alerts_are_published(settings, events, model):
    from bus.schemas import AlertEvent

    newer = Fixed(label="7", version="fixed-2")
    alert = AlertEvent(level="warning", title="model swap refused", text="checksum")
    worker = BatchingConsumer(
        settings, RecognitionEngine(model, "swap-worker"), url="memory://", swapper=Swapper(newer, [alert])
    )
    worker._between_batches(events.producer)
    assert worker.engine.recognizer is newer
    [(rk, event)] = events.read()
    assert rk == event_routing_key("alert", ALERT_SOURCE) and event["title"] == "model swap refused"
    worker._between_batches(events.producer)  # nothing new: the same model, no alert
    assert worker.engine.recognizer is newer and events.read() == []


def test_a_consumer_without_a_swapper_keeps_its_model(worker, events, model):
    worker._between_batches(events.producer)
    assert worker.engine.recognizer is model and worker.name == "acks-worker" and events.read() == []


def test_an_unpublishable_answer_outside_the_consumer_loop_dead_letters_its_job(settings, events, model):
    fresh = BatchingConsumer(settings, RecognitionEngine(model, "fresh-worker"), url="memory://")
    ledger = Ledger()
    d = ledger.deliver(job())

    class Refusing(Producer):
        def publish(self, body, **kw):
            raise TypeError("cannot serialise this event")

    fresh._flush([d], Refusing(events.producer.channel, exchange=EVENTS_EXCHANGE, serializer="json"))
    assert ledger.outcome(d) == "dead-lettered" and fresh.stats["failed"] == 1


def test_a_job_with_a_bad_schema_is_logged_with_its_id_and_its_first_error(worker, events, caplog):
    ledger = Ledger()
    bad = ledger.deliver(job() | {"schema_version": 99, "top_k": "many"})
    with caplog.at_level(logging.ERROR, "inkbus.worker"):
        worker._flush([bad, ledger.deliver(["not", "a", "job"])], events.producer)
    first, second = caplog.records
    assert first.job_id == bad[0]["job_id"] and second.job_id is None
    assert first.getMessage().startswith("job with a bad schema dead-lettered: [{")
    assert first.getMessage().count("'loc'") == 1  # the first error only: a log line stays short


def test_a_worker_is_named_after_its_host_process_and_index():
    assert default_worker_name(3) == f"{socket.gethostname()}-{os.getpid()}-3"
    assert default_worker_name() == f"{socket.gethostname()}-{os.getpid()}-0"


def test_the_consumer_loop_answers_queued_jobs_in_batches_and_acks_them(settings, events, model):
    bodies = queue_jobs(events, 5)
    w = loop_until(settings, model, lambda w: w.stats["answered"] == 5 and w.ready.is_set(), "five jobs answered")
    assert sorted(e["job_id"] for _, e in events.read()) == sorted(b["job_id"] for b in bodies)
    assert w.stats["batches"] <= 5 and w.stats["reconnects"] == 0
    assert events.conn.channel().queue_declare(JOB_QUEUE_NAME, passive=True).message_count == 0


def test_the_forward_pass_runs_through_the_offload_hook(settings, events, model):
    ran = []

    def offload(fn, *args):
        ran.append(fn)
        return fn(*args)

    w = BatchingConsumer(settings, RecognitionEngine(model, "offload-worker"), url="memory://", offload=offload)
    w._conn = events.conn
    w._flush([Ledger().deliver(job())], events.producer)
    assert ran == [w.engine.run] and batcher._direct(len, [1, 2]) == 2


def loop_until(settings, model, condition, what, swapper=None, before=None):
    """Run a consumer on ``memory://`` until ``condition(consumer)``; ``before(consumer)`` runs ahead of its loop."""
    w = BatchingConsumer(settings, RecognitionEngine(model, "loop-worker"), url="memory://", swapper=swapper)
    if before is not None:
        before(w)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: condition(w), 20, what=what)
    finally:
        w.stop()
        thread.join(5)
    return w


def queue_jobs(events, n):
    ch = events.conn.channel()
    Queue(JOB_QUEUE_NAME, JOBS_EXCHANGE, routing_key=RK_RECOGNIZE)(ch).declare()
    ch.queue_purge(JOB_QUEUE_NAME)
    raw = Producer(ch, exchange=JOBS_EXCHANGE, serializer="json")
    bodies = [job() for _ in range(n)]
    for body in bodies:
        raw.publish(body, routing_key=RK_RECOGNIZE)
    return bodies


def test_the_consumer_prefetches_two_batches_takes_only_json_and_answers_in_json(settings, events, model, monkeypatch):
    from bus.topology import job_queue

    producers, consumers, qos = [], [], []

    class RecordingProducer(Producer):
        def __init__(self, channel, **kw):
            producers.append(kw)
            super().__init__(channel, **kw)

    class RecordingConsumer(batcher.Consumer):
        def __init__(self, channel, queues, **kw):
            consumers.append((queues, kw))
            super().__init__(channel, queues, **kw)

    monkeypatch.setattr(batcher, "Producer", RecordingProducer)
    monkeypatch.setattr(batcher, "Consumer", RecordingConsumer)
    channel_class = events.conn.channel().__class__
    real = channel_class.basic_qos

    def basic_qos(self, *args, **kw):
        qos.append((args, kw))
        return real(self, *args, **kw)

    monkeypatch.setattr(channel_class, "basic_qos", basic_qos)
    queue_jobs(events, 1)
    w = loop_until(settings, model, lambda w: w.stats["answered"] == 1, "the job answered")
    assert qos == [((0, settings.batch_max * 2, False), {})]
    assert producers == [{"exchange": EVENTS_EXCHANGE, "serializer": "json"}]
    (jobs, jobs_kw), (control, control_kw) = consumers
    assert [q.queue_arguments for q in jobs] == [job_queue(settings.job_queue_type).queue_arguments]
    assert jobs_kw["accept"] == ["json"] and jobs_kw["on_decode_error"] == w._on_poison
    assert control_kw["accept"] == ["json"] and control_kw["no_ack"] is True  # notices are never redelivered
    assert w.name == "loop-worker" and control[0].name.startswith("inkbus.control.loop-worker-")
    queue_jobs(events, 1)
    loop_until(settings, model, lambda w: w.stats["answered"] == 1, "a second worker's job answered")
    # each consumer has a control queue of its own, even beside one of the same name in this process
    assert (
        consumers[3][0][0].name.startswith("inkbus.control.loop-worker-") and consumers[3][0][0].name != control[0].name
    )


def test_a_lone_job_is_answered_after_the_configured_wait_not_held_for_a_full_batch(settings, events, model):
    s = settings.model_copy(update={"batch_wait_ms": 20.0, "batch_max": 64})
    queue_jobs(events, 1)
    w = loop_until(s, model, lambda w: w.stats["answered"] == 1, "the lone job answered")
    assert w.stats["batches"] == 1


def test_a_broker_failure_while_answering_reconnects_instead_of_dead_lettering_the_job(
    settings, events, model, monkeypatch
):
    from amqp.exceptions import ConnectionError as AmqpConnectionError  # not an OSError: the transport says so

    failures = [AmqpConnectionError("the broker closed the connection")]

    class Flaky(Producer):
        def publish(self, body, **kw):
            if failures:
                raise failures.pop()
            return super().publish(body, **kw)

    monkeypatch.setattr(batcher, "Producer", Flaky)
    queue_jobs(events, 1)
    w = loop_until(settings, model, lambda w: w.stats["reconnects"] == 1, "a reconnect")
    assert w.stats["failed"] == 0 and w.stats["poison"] == 0  # left unacked for the broker to redeliver


def test_a_notice_for_a_new_drawing_makes_its_older_jobs_stale(worker, events):
    worker._on_control(Supersede(drawing_id="d9", seq=1).model_dump(mode="json"), None)
    ledger = Ledger()
    old = ledger.deliver(job(drawing_id="d9", seq=0))
    worker._flush([old], events.producer)
    assert events.read() == [] and worker.stats["superseded"] == 1


def test_a_job_not_in_json_is_dead_lettered_as_poison_without_being_decoded(settings, events, model):
    ch = events.conn.channel()
    Queue(JOB_QUEUE_NAME, JOBS_EXCHANGE, routing_key=RK_RECOGNIZE)(ch).declare()
    ch.queue_purge(JOB_QUEUE_NAME)
    Producer(ch, exchange=JOBS_EXCHANGE, serializer="pickle").publish(job(), routing_key=RK_RECOGNIZE)
    w = loop_until(settings, model, lambda w: w.stats["poison"] == 1, "the pickled job refused")
    assert w.stats["answered"] == 0 and w.stats["reconnects"] == 0 and model.seen == 0
    assert ch.queue_declare(JOB_QUEUE_NAME, passive=True).message_count == 0


def test_supersede_notices_on_the_control_exchange_reach_the_running_consumer(settings, events, model):
    from bus.topology import CONTROL_EXCHANGE

    ch = events.conn.channel()
    Queue(JOB_QUEUE_NAME, JOBS_EXCHANGE, routing_key=RK_RECOGNIZE)(ch).declare()
    ch.queue_purge(JOB_QUEUE_NAME)
    control = Producer(ch, exchange=CONTROL_EXCHANGE, serializer="json")
    w = BatchingConsumer(settings, RecognitionEngine(model, "control-worker"), url="memory://")
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        wait_until(w.ready.is_set, 20, what="the consumer ready")
        Producer(ch, exchange=CONTROL_EXCHANGE, serializer="pickle").publish({"type": "supersede"}, routing_key="")
        control.publish(Supersede(drawing_id="d7", seq=5).model_dump(mode="json"), routing_key="")
        wait_until(lambda: w._latest.get("d7") == 5, 20, what="the notice taken")
        Producer(ch, exchange=JOBS_EXCHANGE, serializer="json").publish(
            job(drawing_id="d7", seq=3), routing_key=RK_RECOGNIZE
        )
        wait_until(lambda: w.stats["superseded"] == 1, 20, what="the older job skipped")
        assert w.stats["reconnects"] == 0 and model.seen == 0 and events.read() == []
    finally:
        w.stop()
        thread.join(5)
