"""The job publisher used by the edge (Socket.IO) and the HTTP API.

Publisher confirms: ``publish`` returns only once RabbitMQ has taken the job, or raises
``BusUnavailable`` so the caller can answer 503 at once instead of hanging. Jobs are transient
unless ``job_persistent`` (``bus.topology.job_delivery_mode`` says why).
Confirms are waited for synchronously, so one channel carries one job per broker round trip:
a small pool of confirm channels (``publisher_channels``) lets concurrent publishes overlap
instead of queueing behind one lock (the benchmark's live path showed that queue at 200 drawers).
Coalescing: a drawing has at most one job that counts. When a newer job for a drawing is
published while an older one is still unanswered, a ``Supersede`` notice goes to every worker,
which then skips the older job if it has not started it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from kombu import Producer

from bus.connection import connect, ensure_connected, queue_stats, set_io_timeout
from bus.consumer import drain
from bus.schemas import JSON_CONTENT, RecognizeJob, Supersede
from bus.topology import CONTROL_EXCHANGE, JOBS_EXCHANGE, RK_RECOGNIZE, declare_topology, job_delivery_mode
from foundation.settings import Settings

log = logging.getLogger("inkbus.producer")
T = TypeVar("T")


class BusUnavailable(RuntimeError):
    """The broker cannot take the job now (down, restarting, stalled, or did not confirm in time)."""


class _Slot:
    """One confirm channel of the pool (its own connection), opened on first use.

    ``lock`` is held while the slot talks to the broker: the keep-alive pass skips a busy slot."""

    def __init__(self):
        self.conn = None
        self.producer: Producer | None = None
        self.lock = threading.Lock()


class JobPublisher:
    def __init__(self, settings: Settings, url: str | None = None):
        self.settings = settings
        self.url = url or settings.broker_url
        self._lock = threading.Lock()  # guards the coalescing state only, never held across I/O
        self._slots: queue.LifoQueue[_Slot] = queue.LifoQueue()
        self._all = [_Slot() for _ in range(max(1, settings.publisher_channels))]
        for slot in reversed(self._all):
            self._slots.put(slot)
        self._outstanding: dict[str, tuple[str, int]] = {}  # drawing_id -> (job_id, seq) not yet answered
        self.superseded = 0
        self.replaced = 0  # pooled connections found dead and dropped (reopened on next use)
        self._returned: set[str] = set()  # job ids the broker could not route (``_on_return``)
        self._delivery_mode = job_delivery_mode(settings.queues)  # once: ``settings.queues`` builds an object

    # -- connection
    def _ensure(self, slot: _Slot, deadline: float) -> Producer:
        if slot.producer is not None:
            set_io_timeout(slot.conn, deadline - time.monotonic())
            return slot.producer
        conn = connect(self.settings.broker, self.url, confirm=True)
        try:
            ensure_connected(conn, self.settings.broker)
            set_io_timeout(conn, deadline - time.monotonic())  # a stalled broker must not hold the channel open
            ch = conn.channel()
            declare_topology(ch, self.settings.queues)
        except Exception as exc:
            conn.collect()
            raise BusUnavailable(f"message broker unreachable: {exc}") from exc
        slot.conn, slot.producer = conn, Producer(ch, serializer="json", on_return=self._on_return)
        return slot.producer

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        # A job is published ``mandatory``: no queue to take it (a cluster re-declaring its job queue on a
        # surviving node) brings it back before its confirm, and ``publish`` refuses it instead of losing it.
        job_id = (getattr(message, "properties", None) or {}).get("message_id")
        if job_id:
            self._returned.add(job_id)

    def _drop(self, slot: _Slot) -> None:
        """Forget a broken connection without a closing handshake (a stalled broker would never answer it)."""
        if slot.conn is not None:
            self.replaced += 1
            try:
                slot.conn.collect()
            except Exception:
                pass
        slot.conn = slot.producer = None

    def close(self) -> None:
        for slot in self._all:
            with slot.lock:
                conn, slot.conn, slot.producer = slot.conn, None, None
                if conn is not None:
                    try:
                        set_io_timeout(conn, self.settings.broker_connect_timeout_s)
                        conn.release()
                    except Exception:
                        conn.collect()

    def _take(self, deadline: float) -> _Slot:
        try:  # LIFO: a light load keeps reusing one warm channel
            slot = self._slots.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise BusUnavailable("every publisher channel is busy with a slow broker") from None
        slot.lock.acquire()
        return slot

    def _give(self, slot: _Slot) -> None:
        slot.lock.release()
        self._slots.put(slot)

    def _retry(self, deadline: float, op: Callable[[Producer], T]) -> T:
        """``op`` on a free channel within ``deadline`` (monotonic). A broken connection (one that died
        while idle, say) is replaced and ``op`` tried once more; then ``BusUnavailable``."""
        slot = self._take(deadline)
        try:
            for attempt in (1, 2):
                try:
                    return op(self._ensure(slot, deadline))
                except Exception as exc:
                    self._drop(slot)
                    if attempt == 2 or time.monotonic() >= deadline:
                        raise BusUnavailable(f"message broker did not answer: {exc}") from exc
                    log.warning("broker call failed (%s); reconnecting once", exc)
        finally:
            self._give(slot)
        raise AssertionError("unreachable")

    def _publish(self, body: str, deadline: float, **kw) -> None:
        def send(producer: Producer) -> None:
            wait = max(0.001, min(self.settings.publish_confirm_timeout_s, deadline - time.monotonic()))
            producer.publish(body, timeout=wait, confirm_timeout=wait, **JSON_CONTENT, **kw)

        self._retry(deadline, send)

    def queue_stats(self, queue_name: str, timeout: float | None = None) -> tuple[int, int] | None:
        """(messages ready, consumers) of a queue over a pooled channel; None when the broker is unreachable
        or does not answer within ``timeout`` (default: two connection timeouts). The edge asks every second:
        a channel it already holds costs one round trip, a new connection four."""
        budget = 2 * self.settings.broker_connect_timeout_s if timeout is None else timeout
        try:
            return self._retry(time.monotonic() + budget, lambda producer: queue_stats(producer.channel, queue_name))
        except BusUnavailable as exc:
            log.warning("queue stats unavailable: %s", exc)
            return None

    def keep_alive(self) -> None:
        """Heartbeats for idle pooled connections: read what the broker sent (its heartbeats), send ours
        when due, and drop a connection whose broker went silent (the next use opens a new one). Without
        this an idle edge's connections are closed by the broker for missed heartbeats."""
        for slot in self._all:
            if slot.conn is None or not slot.lock.acquire(blocking=False):
                continue  # never opened, or busy (a busy connection is talking anyway)
            try:
                if slot.conn is not None:
                    self._beat(slot)
            finally:
                slot.lock.release()

    def _beat(self, slot: _Slot) -> None:
        try:
            set_io_timeout(slot.conn, None)
            drain(slot.conn, 0.0001)
        except Exception as exc:
            log.info("an idle publisher connection died (%s); it is replaced on next use", exc)
            self._drop(slot)

    # -- API
    def publish(self, job: RecognizeJob) -> None:
        """Publish ``job`` (and a supersede notice); every broker wait ends by the job's deadline."""
        ttl_s = self.settings.job_ttl_ms / 1000
        left = (job.deadline - time.time()) if job.deadline is not None else self.settings.request_timeout_s
        deadline = time.monotonic() + max(0.0, left)
        notice = None
        with self._lock:
            if job.drawing_id is not None:
                prev = self._outstanding.get(job.drawing_id)
                if prev is not None and prev[1] < job.seq:
                    notice = Supersede(drawing_id=job.drawing_id, seq=job.seq)
                    self.superseded += 1
                self._outstanding[job.drawing_id] = (job.job_id, job.seq)
        if notice is not None:
            notice_body = notice.model_dump_json()
            self._publish(notice_body, deadline, exchange=CONTROL_EXCHANGE, routing_key="", delivery_mode=1)
        self._publish(
            job.model_dump_json(),
            deadline,
            exchange=JOBS_EXCHANGE,
            routing_key=RK_RECOGNIZE,
            delivery_mode=self._delivery_mode,
            expiration=ttl_s,
            message_id=job.job_id,
            timestamp=int(time.time()),
            mandatory=True,
        )
        if job.job_id in self._returned:
            self._returned.discard(job.job_id)
            raise BusUnavailable("no queue took the job: the message broker is re-declaring it; try again shortly")

    def answered(self, drawing_id: str | None, job_id: str) -> None:
        """Tell the coalescer that ``job_id`` got its answer; nothing of that drawing is outstanding."""
        if drawing_id is None:
            return
        with self._lock:
            prev = self._outstanding.get(drawing_id)
            if prev is not None and prev[0] == job_id:
                del self._outstanding[drawing_id]

    def forget(self, drawing_id: str) -> None:
        with self._lock:
            self._outstanding.pop(drawing_id, None)
