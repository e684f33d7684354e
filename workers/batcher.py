"""The micro-batching job consumer: many queued jobs -> one forward pass.

Why a kombu consumer and not one Celery task per job: a forward pass over 64 renders costs
little more than over one, so the consumer drains whatever the broker has already delivered (up
to ``batch_max``; it waits for more only if ``batch_wait_ms`` asks) and runs them together.
Acknowledgement is late: a job is acked only after its event is published on the same channel,
so a worker killed mid-batch leaves its jobs unacked and the broker redelivers them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Callable

from kombu import Consumer, Producer
from pydantic import ValidationError

from bus.consumer import ResilientConsumer, drain, take_ready
from bus.schemas import ErrorEvent, RecognizeJob, Supersede
from bus.topology import EVENTS_EXCHANGE, control_queue, declare_topology, event_routing_key, job_queue
from inkbus.settings import Settings
from observability.metrics import JobStats, observe_batch
from workers.engine import RecognitionEngine

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
        self, settings: Settings, engine: RecognitionEngine, *, url: str | None = None, offload: Callable | None = None
    ):
        super().__init__(settings, url)
        self.engine = engine
        self.name = engine.worker_name
        # Under gevent the forward pass must leave the event loop: ``offload`` runs it on a real thread.
        self.offload = offload or _direct
        self.stats: Counter = JobStats()  # also counted in inkbus_jobs_total (observability/metrics.py)
        # job_id -> (routing key, event as JSON): idempotent redelivery. A string, not the dict: one object
        # per entry instead of dozens for the garbage collector to walk (inkbus/heap.py)
        self._done = _LRU(10_000)
        self._latest = _LRU(100_000)  # drawing_id -> highest seq seen
        self._buf: list = []

    # -- lifecycle (the reconnect loop is ResilientConsumer.run)
    def on_disconnect(self, exc: Exception) -> None:
        self.stats["reconnects"] += 1

    def on_release(self) -> None:
        self._buf.clear()  # unacked messages of a dead channel are redelivered by the broker

    # -- consuming
    def serve(self, conn) -> None:
        ch = conn.channel()
        declare_topology(ch, self.settings)
        ch.basic_qos(0, self.settings.batch_max * 2, False)
        producer = Producer(ch, exchange=EVENTS_EXCHANGE, serializer="json")
        jobs = Consumer(ch, [job_queue()], callbacks=[self._on_job], accept=["json"], on_decode_error=self._on_poison)
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
            self.ready.set()
            log.info("worker %s consuming %s", self.name, jobs.queues[0].name)
            first = 0.0
            while not self.stopping:
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
                self._flush(batch, producer)

    def _on_job(self, body, message) -> None:
        self._buf.append((body, message))

    def _on_poison(self, message, exc) -> None:
        self.stats["poison"] += 1
        log.error("undecodable job dead-lettered: %s", exc)
        message.reject(requeue=False)

    def _on_control(self, body, message) -> None:
        try:
            note = Supersede.model_validate(body)
        except ValidationError:
            return
        if note.seq > self._latest.get(note.drawing_id, -1):
            self._latest.put(note.drawing_id, note.seq)

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
                producer.publish(json.loads(event), routing_key=rk)
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
        except Exception as exc:  # a model failure must not kill the worker: dead-letter and tell the clients
            log.exception("batch of %d failed", len(jobs), extra={"job_ids": [j.job_id for j in jobs]})
            self.stats["failed"] += len(jobs)
            for job, message in work:
                err = ErrorEvent(
                    job_id=job.job_id,
                    reply_to=job.reply_to,
                    code="internal_error",
                    message=f"recognition failed: {type(exc).__name__}",
                    meta=job.meta,
                )
                producer.publish(err.model_dump(mode="json"), routing_key=event_routing_key("error", job.reply_to))
                message.reject(requeue=False)
            return
        for (job, message), event in zip(work, events, strict=True):
            body = event.model_dump(mode="json")
            rk = event_routing_key(event.type, job.reply_to)
            producer.publish(body, routing_key=rk)
            if event.type == "error":
                message.reject(requeue=False)  # invalid ink: keep it in the dead-letter queue for inspection
                self.stats["invalid"] += 1
            else:
                self._done.put(job.job_id, (rk, json.dumps(body)))
                message.ack()
                self.stats["answered"] += 1
        self.stats["batches"] += 1
        observe_batch(events)
        if log.isEnabledFor(logging.DEBUG):  # per-job lines only when asked for: the hot path stays quiet
            for job, event in zip(jobs, events, strict=True):
                log.debug("job %s", event.type, extra={"job_id": job.job_id, "conn_id": job.meta.get("sid")})


def default_worker_name(index: int = 0) -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{index}"
