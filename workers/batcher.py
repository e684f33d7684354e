"""The micro-batching job consumer: many queued jobs -> one forward pass.

Why a kombu consumer and not one Celery task per job: a forward pass over 64 renders costs
little more than over one, so the consumer drains whatever the broker has already delivered (up
to ``batch_max``; it waits for more only if ``batch_wait_ms`` asks) and runs them together.
Acknowledgement is late: a job is acked only after its event is published on the same channel,
so a worker killed mid-batch leaves its jobs unacked and the broker redelivers them.
A job is settled on its own: one that cannot be computed or answered is answered (where it can be)
and dead-lettered alone, and the rest of its batch is answered as usual.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from kombu import Consumer, Producer
from pydantic import ValidationError

from bus.connection import corked
from bus.consumer import ResilientConsumer, dead_letter_on_failure, drain, is_transport_error, take_ready
from bus.schemas import JSON_CONTENT, RecognizeJob, Supersede
from bus.topology import ALERT_SOURCE, EVENTS_EXCHANGE, control_queue, declare_topology, event_routing_key, job_queue
from foundation.settings import Settings
from observability.metrics import JobStats, observe_batch
from workers.engine import RecognitionEngine, internal_error

if TYPE_CHECKING:
    from workers.swap import ModelSwapper

log = logging.getLogger("inkbus.worker")


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


def _direct(fn, *args):
    return fn(*args)


class BatchingConsumer(ResilientConsumer):
    def __init__(
        self,
        settings: Settings,
        engine: RecognitionEngine,
        *,
        url: str | None = None,
        offload: Callable | None = None,
        swapper: ModelSwapper | None = None,
    ):
        super().__init__(settings.broker, url)
        self.settings = settings
        self.engine = engine
        self.swapper = swapper  # live model swap (workers/swap.py); None: the model never changes
        self.name = engine.worker_name
        # Under gevent the forward pass must leave the event loop: ``offload`` runs it on a real thread.
        self.offload = offload or _direct
        self.stats: Counter = JobStats()  # also counted in inkbus_jobs_total (observability/metrics.py)
        # job_id -> (routing key, event as JSON): idempotent redelivery. A string, not the dict: one object
        # per entry instead of dozens for the garbage collector to walk (foundation/heap.py)
        self._done = _LRU(10_000)
        self._latest = _LRU(100_000)  # drawing_id -> highest seq seen
        self._buf: list = []
        self._conn = None  # the connection being served: tells a transport failure from a bad job

    # -- lifecycle (the reconnect loop is ResilientConsumer.run)
    def on_disconnect(self, exc: Exception) -> None:
        self.stats["reconnects"] += 1

    def on_release(self) -> None:
        self._buf.clear()  # unacked messages of a dead channel are redelivered by the broker

    # -- consuming
    def serve(self, conn) -> None:
        self._conn = conn
        ch = conn.channel()
        declare_topology(ch, self.settings.queues)
        ch.basic_qos(0, self.settings.batch_max * 2, False)
        producer = Producer(ch, exchange=EVENTS_EXCHANGE, serializer="json")
        jobs = Consumer(
            ch,
            [job_queue(self.settings.job_queue_type)],
            callbacks=[self._on_job],
            accept=["json"],
            on_decode_error=self._on_poison,
        )
        control = Consumer(
            ch,
            [control_queue(f"{self.name}-{id(self)}")],
            callbacks=[self._on_control],
            accept=["json"],
            no_ack=True,
            on_decode_error=lambda m, e: None,
        )
        wait_s = self.settings.batch_wait_ms / 1000
        full = self.settings.batch_max
        with jobs, control:
            if self.swapper is not None:
                self.swapper.resync()  # promotions announced while this consumer was disconnected
            self.ready.set()
            log.info("worker %s consuming %s", self.name, jobs.queues[0].name)
            first = 0.0
            while not self.stopping:
                self._between_batches(producer)
                if not self._buf:
                    drain(conn, 0.5)
                    if not self._buf:
                        continue
                    first = time.monotonic()
                # Natural batching: every job already delivered joins the batch without any waiting, so
                # a lone job runs at once and, under load, the jobs that arrived during the previous
                # forward pass make the next batch. ``batch_wait_ms`` can add a deliberate wait on top.
                while len(self._buf) < full and take_ready(conn):
                    pass
                remaining = first + wait_s - time.monotonic()
                if len(self._buf) < full and remaining > 0:
                    drain(conn, remaining)
                    continue
                batch, self._buf = self._buf, []
                with dead_letter_on_failure(conn, [m for _, m in batch], f"a batch of {len(batch)}"), corked(conn):
                    self._flush(batch, producer)

    def _on_job(self, body, message) -> None:
        self._buf.append((body, message))

    def _on_poison(self, message, exc) -> None:
        self.stats["poison"] += 1
        log.error("undecodable job dead-lettered: %s", exc)
        message.reject(requeue=False)

    def _on_control(self, body, message) -> None:
        if isinstance(body, dict) and body.get("type") == "model.promoted":
            if self.swapper is not None:
                self.swapper.on_control(body)
            return
        try:
            note = Supersede.model_validate(body)
        except ValidationError:
            return
        if note.seq > self._latest.get(note.drawing_id, -1):
            self._latest.put(note.drawing_id, note.seq)

    # -- model swap hook: the only place the recogniser changes, never inside a batch
    def _between_batches(self, producer) -> None:
        if self.swapper is None:
            return
        latest = self.swapper.current()
        if latest is not self.engine.recognizer:
            log.info("worker %s: model %s -> %s", self.name, self.engine.recognizer.version, latest.version)
            self.engine.recognizer = latest
        for alert in self.swapper.take_alerts():
            producer.publish(alert.model_dump(mode="json"), routing_key=event_routing_key("alert", ALERT_SOURCE))

    # -- one batch
    def _triage(self, batch, producer) -> list:
        """Drop what must not be computed; return the (job, message) pairs to run."""
        now = time.time()
        live = []
        for body, message in batch:
            try:
                job = RecognizeJob.model_validate(body)
            except ValidationError as exc:
                self.stats["poison"] += 1
                log.error(
                    "job with a bad schema dead-lettered: %s",
                    exc.errors()[:1],
                    extra={"job_id": body.get("job_id") if isinstance(body, dict) else None},
                )
                message.reject(requeue=False)
                continue
            if job.job_id in self._done:  # redelivered after we answered: answer again, compute nothing
                rk, event = self._done[job.job_id]
                producer.publish(event, routing_key=rk, **JSON_CONTENT)
                message.ack()
                self.stats["duplicates"] += 1
                continue
            if job.deadline is not None and job.deadline < now:
                self.stats["expired"] += 1
                message.ack()
                continue
            if job.drawing_id is not None and job.seq > self._latest.get(job.drawing_id, -1):
                self._latest.put(job.drawing_id, job.seq)
            live.append((job, message))
        fresh = []
        for job, message in live:
            if job.drawing_id is not None and job.seq < self._latest.get(job.drawing_id, -1):
                self.stats["superseded"] += 1
                message.ack()
            else:
                fresh.append((job, message))
        return fresh

    def _flush(self, batch, producer) -> None:
        work = self._triage(batch, producer)
        if not work:
            return
        jobs = [j for j, _ in work]
        try:
            events = self.offload(self.engine.run, jobs)
        except Exception:  # the engine isolates jobs itself; if it still fails, find the culprit one by one
            log.exception("batch of %d failed; running its jobs one at a time", len(jobs))
            events = [self._run_alone(job) for job in jobs]
        for (job, message), event in zip(work, events, strict=True):
            self._answer(job, message, event, producer)
        self.stats["batches"] += 1
        observe_batch(events)
        if log.isEnabledFor(logging.DEBUG):  # per-job lines only when asked for: the hot path stays quiet
            for job, event in zip(jobs, events, strict=True):
                log.debug("job %s", event.type, extra={"job_id": job.job_id, "conn_id": job.meta.get("sid")})

    def _run_alone(self, job: RecognizeJob):
        try:
            return self.offload(self.engine.run, [job])[0]
        except Exception as exc:
            log.exception("job failed", extra={"job_id": job.job_id})
            return internal_error(job, exc)

    def _answer(self, job: RecognizeJob, message, event, producer) -> None:
        """Publish one job's event, then settle its message: ack an answer, dead-letter an error."""
        try:
            body = event.model_dump_json()
            rk = event_routing_key(event.type, job.reply_to)
            producer.publish(body, routing_key=rk, **JSON_CONTENT)
        except Exception as exc:
            if is_transport_error(self._conn, exc):
                raise
            log.exception("the answer to a job could not be published", extra={"job_id": job.job_id})
            self.stats["failed"] += 1
            message.reject(requeue=False)
            return
        if event.type == "error":
            message.reject(requeue=False)  # keep it in the dead-letter queue for inspection
            self.stats["failed" if event.code == "internal_error" else "invalid"] += 1
        else:
            self._done.put(job.job_id, (rk, body))
            message.ack()
            self.stats["answered"] += 1


def default_worker_name(index: int = 0) -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{index}"
