"""The batching consumer's counts over several jobs and batches, its bounds, its clock and its idle loop, with a
stand-in recogniser (no model) on ``memory://``."""

from __future__ import annotations

import logging
import time

import pytest

from bus.schemas import AlertEvent
from bus.topology import ALERT_SOURCE, JOB_QUEUE_NAME, event_routing_key
from tests.helpers import Ledger
from tests.unit.workers.test_batcher_acks import Fixed, Swapper, job, loop_until, queue_jobs
from workers import batcher
from workers.batcher import BatchingConsumer
from workers.engine import RecognitionEngine

EDGE = "edge-acks"


def test_every_duplicate_and_every_expired_job_of_a_batch_is_counted(worker, events, model):
    first, second = job(), job()
    worker._flush([Ledger().deliver(first), Ledger().deliver(second)], events.producer)
    events.read()
    ledger = Ledger()
    late = [ledger.deliver(job(deadline=time.time() - 1)) for _ in range(2)]
    worker._flush([ledger.deliver(first), *late, ledger.deliver(second)], events.producer)
    assert len(events.read()) == 2 and model.seen == 2
    assert worker.stats["duplicates"] == 2 and worker.stats["expired"] == 2


def test_a_live_job_behind_an_expired_one_is_still_answered(worker, events, model):
    ledger = Ledger()
    batch = [ledger.deliver(job(deadline=time.time() - 1)), ledger.deliver(job()), ledger.deliver(job())]
    worker._flush(batch, events.producer)
    assert [e["job_id"] for _, e in events.read()] == [batch[1][0]["job_id"], batch[2][0]["job_id"]]
    assert [ledger.outcome(d) for d in batch] == ["acked", "acked", "acked"] and model.seen == 2


class Clock:
    """``time`` for the batcher alone: a frozen wall clock and a monotonic clock that steps on every reading."""

    def __init__(self, now: float, step: float = 0.0):
        self.now, self.mono, self.step = now, 1000.0, step

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        self.mono += self.step
        return self.mono


def test_a_job_is_still_answered_at_the_very_instant_of_its_deadline(worker, events, model, monkeypatch):
    monkeypatch.setattr(batcher, "time", Clock(now=1_900_000_000.0))
    ledger = Ledger()
    on_time, late = ledger.deliver(job(deadline=1_900_000_000.0)), ledger.deliver(job(deadline=1_899_999_999.99))
    worker._flush([on_time, late], events.producer)
    assert [e["job_id"] for _, e in events.read()] == [on_time[0]["job_id"]]
    assert worker.stats["expired"] == 1 and worker.stats["answered"] == 1


def test_in_one_batch_a_new_drawings_newer_stroke_supersedes_its_older_one(worker, events, model):
    ledger = Ledger()
    older, newer = ledger.deliver(job(drawing_id="fresh", seq=0)), ledger.deliver(job(drawing_id="fresh", seq=1))
    worker._flush([older, newer], events.producer)
    assert [e["job_id"] for _, e in events.read()] == [newer[0]["job_id"]]
    assert worker.stats["superseded"] == 1 and model.seen == 1 and ledger.outcome(older) == "acked"


def test_each_batch_that_ran_is_counted(worker, events):
    for _ in range(3):
        worker._flush([Ledger().deliver(job())], events.producer)
    assert worker.stats["batches"] == 3 and worker.stats["answered"] == 3


def test_at_debug_level_each_job_of_a_batch_is_logged_with_its_id_and_connection(worker, events, caplog):
    ledger = Ledger()
    batch = [ledger.deliver(job(meta={"sid": "s1"})), ledger.deliver(job() | {"ink": {"strokes": [[[0, "x"]]]}})]
    with caplog.at_level(logging.DEBUG, "inkbus.worker"):
        worker._flush(batch, events.producer)
    lines = [(r.getMessage(), r.job_id, r.conn_id) for r in caplog.records if r.levelno == logging.DEBUG]
    assert lines == [("job prediction", batch[0][0]["job_id"], "s1"), ("job error", batch[1][0]["job_id"], None)]


def test_at_info_level_no_job_is_logged(worker, events, caplog):
    with caplog.at_level(logging.INFO, "inkbus.worker"):
        worker._flush([Ledger().deliver(job())], events.producer)
    assert caplog.records == []


def test_the_worker_remembers_a_bounded_number_of_answers_and_drawings(worker):
    # ~10,000 answers of a few hundred bytes and 100,000 drawing ids: tens of MB at most, whatever the traffic
    assert worker._done.size == 10_000 and worker._latest.size == 100_000


class Recorder:
    """Wraps ``bus.consumer.drain`` as the batcher calls it: each wait's timeout and how much was buffered then."""

    def __init__(self, worker_box: list):
        self.calls: list[tuple[int, float]] = []
        self.box = worker_box

    def __call__(self, conn, timeout):
        self.calls.append((len(self.box[0]._buf), timeout))
        return batcher_drain(conn, timeout)


batcher_drain = batcher.drain


def run_loop(settings, model, monkeypatch, condition, what, swapper=None):
    box: list = []
    recorder = Recorder(box)
    monkeypatch.setattr(batcher, "drain", recorder)
    return loop_until(settings, model, condition, what, swapper, before=box.append), recorder.calls


def test_an_idle_worker_waits_on_the_broker_only_while_it_holds_nothing(settings, events, model, monkeypatch):
    queue_jobs(events, 1)
    _, calls = run_loop(settings, model, monkeypatch, lambda w: w.stats["answered"] == 1, "the job answered")
    assert calls and all(buffered == 0 for buffered, timeout in calls if timeout == 0.5)
    assert all(timeout == 0.5 for _, timeout in calls)  # no deliberate wait is configured: a lone job runs at once


def test_the_configured_wait_is_measured_from_the_batchs_first_job(settings, events, model, monkeypatch):
    monkeypatch.setattr(batcher, "time", Clock(now=time.time(), step=0.001))
    s = settings.model_copy(update={"batch_wait_ms": 20.0, "batch_max": 64})
    queue_jobs(events, 1)
    _, calls = run_loop(s, model, monkeypatch, lambda w: w.stats["answered"] == 1, "the lone job answered")
    waits = [timeout for buffered, timeout in calls if buffered]
    # the first job's arrival and the next reading are one clock step apart: 20 ms less that step
    assert waits and waits[0] == pytest.approx(0.020 - 0.001, abs=1e-9)


def test_the_loop_says_what_it_consumes_and_publishes_the_swappers_alerts(settings, events, model, monkeypatch, caplog):
    alert = AlertEvent(level="warning", title="model swap refused", text="checksum")

    class Resyncing(Swapper):
        resyncs = 0

        def resync(self):
            self.resyncs += 1

    swapper = Resyncing(model, [alert])
    events.read()
    with caplog.at_level(logging.INFO, "inkbus.worker"):
        run_loop(settings, model, monkeypatch, lambda w: w.ready.is_set() and not swapper.alerts, "alert", swapper)
    assert f"worker loop-worker consuming {JOB_QUEUE_NAME}" in caplog.messages and swapper.resyncs == 1
    assert (event_routing_key("alert", ALERT_SOURCE), alert.model_dump(mode="json")) in [
        (rk, e) for rk, e in events.read()
    ]


def test_a_batch_never_exceeds_the_limit_even_when_more_jobs_are_ready(settings, events, model, monkeypatch):
    s = settings.model_copy(update={"batch_max": 2})
    queue_jobs(events, 5)
    sizes = []
    real = RecognitionEngine.run
    monkeypatch.setattr(RecognitionEngine, "run", lambda self, jobs: sizes.append(len(jobs)) or real(self, jobs))
    run_loop(s, model, monkeypatch, lambda w: w.stats["answered"] == 5, "five jobs answered")
    assert sum(sizes) == 5 and max(sizes) <= 2


def test_a_full_batch_runs_at_once_without_the_configured_wait(settings, events, model, monkeypatch):
    s = settings.model_copy(update={"batch_max": 2, "batch_wait_ms": 10_000.0})
    queue_jobs(events, 2)
    _, calls = run_loop(s, model, monkeypatch, lambda w: w.stats["answered"] == 2, "two jobs answered")
    assert all(buffered < 2 for buffered, _ in calls)  # never waited holding a full batch


def test_one_connection_is_served_through_idle_spells_and_waits(settings, events, model, monkeypatch):
    served = []
    real = BatchingConsumer.serve
    monkeypatch.setattr(BatchingConsumer, "serve", lambda self, conn: served.append(conn) or real(self, conn))
    s = settings.model_copy(update={"batch_max": 64, "batch_wait_ms": 30.0})

    def later(w):
        if w.ready.is_set() and not later.sent:
            time.sleep(0.6)  # more than one idle wait on the broker
            queue_jobs(events, 1)
            later.sent = True
        return w.stats["answered"] == 1

    later.sent = False
    w, _ = run_loop(s, model, monkeypatch, later, "the late job answered")
    assert len(served) == 1 and w.stats["reconnects"] == 0


def test_a_batch_that_fails_outside_the_engine_is_dead_lettered_and_said(settings, events, model, monkeypatch, caplog):
    def broken(self, batch, producer):
        raise RuntimeError("a bug between the jobs and their answers")

    monkeypatch.setattr(BatchingConsumer, "_flush", broken)
    queue_jobs(events, 1)
    with caplog.at_level(logging.ERROR):
        w, _ = run_loop(settings, model, monkeypatch, lambda w: w.ready.is_set() and caplog.records, "the failure")
    assert "a batch of 1 failed; rejecting 1 message(s) without requeue" in caplog.messages
    assert w.stats["reconnects"] == 0
    ch = events.conn.channel()
    assert ch.queue_declare(JOB_QUEUE_NAME, passive=True).message_count == 0


def test_every_unpublishable_answer_is_counted_and_logged_with_its_job(settings, events, model, caplog):
    from kombu import Producer

    from bus.topology import EVENTS_EXCHANGE

    fresh = BatchingConsumer(settings, RecognitionEngine(model, "fresh-worker"), url="memory://")
    ledger = Ledger()
    batch = [ledger.deliver(job()), ledger.deliver(job())]

    class Refusing(Producer):
        def publish(self, body, **kw):
            raise TypeError("cannot serialise this event")

    with caplog.at_level(logging.ERROR, "inkbus.worker"):
        fresh._flush(batch, Refusing(events.producer.channel, exchange=EVENTS_EXCHANGE, serializer="json"))
    assert fresh.stats["failed"] == 2 and [ledger.outcome(d) for d in batch] == ["dead-lettered"] * 2
    assert [(r.getMessage(), r.job_id) for r in caplog.records] == [
        ("the answer to a job could not be published", d[0]["job_id"]) for d in batch
    ]


def test_every_error_answer_of_a_batch_is_counted(worker, events, monkeypatch):
    ledger = Ledger()
    bad = [ledger.deliver(job() | {"ink": {"strokes": [[[0, "x"]]]}}) for _ in range(2)]
    worker._flush(bad, events.producer)
    assert worker.stats["invalid"] == 2

    def failing(jobs):
        raise ValueError("this job alone")

    monkeypatch.setattr(worker.engine, "run", failing)
    worker._flush([ledger.deliver(job()), ledger.deliver(job())], events.producer)
    assert worker.stats["failed"] == 2 and worker.stats["invalid"] == 2


def test_a_model_switch_is_logged_with_the_worker_and_both_versions(settings, events, model, caplog):
    newer = Fixed(label="7", version="fixed-2")
    w = BatchingConsumer(settings, RecognitionEngine(model, "swap-worker"), url="memory://", swapper=Swapper(newer))
    with caplog.at_level(logging.INFO, "inkbus.worker"):
        w._between_batches(events.producer)
    assert caplog.messages == ["worker swap-worker: model fixed-1 -> fixed-2"]
