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

from kombu import Producer

from bus.connection import connect, queue_stats
from bus.schemas import RecognizeJob, Supersede
from bus.topology import CONTROL_EXCHANGE, JOBS_EXCHANGE, RK_RECOGNIZE, declare_topology, job_delivery_mode
from inkbus.settings import Settings

log = logging.getLogger("inkbus.producer")


class BusUnavailable(RuntimeError):
    """The broker cannot take the job now (down, restarting, or did not confirm in time)."""


class _Slot:
    """One confirm channel of the pool (its own connection), opened on first use."""

    def __init__(self):
        self.conn = None
        self.producer: Producer | None = None


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

    # -- connection
    def _ensure(self, slot: _Slot) -> Producer:
        if slot.producer is not None:
            return slot.producer
        conn = connect(self.settings, self.url, confirm=True)
        try:
            conn.ensure_connection(max_retries=1, timeout=self.settings.broker_connect_timeout_s)
            ch = conn.channel()
            declare_topology(ch, self.settings)
        except Exception as exc:
            conn.release()
            raise BusUnavailable(f"message broker unreachable: {exc}") from exc
        slot.conn, slot.producer = conn, Producer(ch, serializer="json")
        return slot.producer

    @staticmethod
    def _drop(slot: _Slot) -> None:
        try:
            if slot.conn is not None:
                slot.conn.release()
        except Exception:
            pass
        slot.conn = slot.producer = None

    def close(self) -> None:
        for slot in self._all:
            self._drop(slot)

    def _publish(self, body: dict, **kw) -> None:
        """Publish once on a free channel; on a broken connection reconnect once, then raise BusUnavailable."""
        slot = self._slots.get()  # LIFO: a light load keeps reusing one warm channel
        try:
            for attempt in (1, 2):
                producer = self._ensure(slot)
                try:
                    producer.publish(
                        body,
                        timeout=self.settings.publish_confirm_timeout_s,
                        confirm_timeout=self.settings.publish_confirm_timeout_s,
                        **kw,
                    )
                    return
                except Exception as exc:
                    self._drop(slot)
                    if attempt == 2:
                        raise BusUnavailable(f"message broker did not take the job: {exc}") from exc
                    log.warning("publish failed (%s); reconnecting once", exc)
        finally:
            self._slots.put(slot)

    def queue_stats(self, queue_name: str) -> tuple[int, int] | None:
        """(messages ready, consumers) of a queue over a pooled channel; None when the broker is unreachable.
        The edge asks every second: a channel it already holds costs one round trip, a new connection four."""
        slot = self._slots.get()
        try:
            return queue_stats(self._ensure(slot).channel, queue_name)
        except Exception:  # unreachable, or the channel broke: the next call reconnects
            self._drop(slot)
            return None
        finally:
            self._slots.put(slot)

    # -- API
    def publish(self, job: RecognizeJob) -> None:
        ttl_s = self.settings.job_ttl_ms / 1000
        notice = None
        with self._lock:
            if job.drawing_id is not None:
                prev = self._outstanding.get(job.drawing_id)
                if prev is not None and prev[1] < job.seq:
                    notice = Supersede(drawing_id=job.drawing_id, seq=job.seq)
                    self.superseded += 1
                self._outstanding[job.drawing_id] = (job.job_id, job.seq)
        if notice is not None:
            self._publish(notice.model_dump(mode="json"), exchange=CONTROL_EXCHANGE, routing_key="", delivery_mode=1)
        self._publish(
            job.model_dump(mode="json"),
            exchange=JOBS_EXCHANGE,
            routing_key=RK_RECOGNIZE,
            delivery_mode=job_delivery_mode(self.settings),
            expiration=ttl_s,
            message_id=job.job_id,
            timestamp=int(time.time()),
        )

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
