"""The job publisher used by the edge (Socket.IO) and the HTTP API.

Publisher confirms: ``publish`` returns only once RabbitMQ has taken the job, or raises
``BusUnavailable`` so the caller can answer 503 at once instead of hanging.
Coalescing: a drawing has at most one job that counts. When a newer job for a drawing is
published while an older one is still unanswered, a ``Supersede`` notice goes to every worker,
which then skips the older job if it has not started it.
"""

from __future__ import annotations

import logging
import threading
import time

from kombu import Producer

from bus.connection import connect
from bus.schemas import RecognizeJob, Supersede
from bus.topology import CONTROL_EXCHANGE, JOBS_EXCHANGE, RK_RECOGNIZE, declare_topology
from inkbus.settings import Settings

log = logging.getLogger("inkbus.producer")


class BusUnavailable(RuntimeError):
    """The broker cannot take the job now (down, restarting, or did not confirm in time)."""


class JobPublisher:
    def __init__(self, settings: Settings, url: str | None = None):
        self.settings = settings
        self.url = url or settings.broker_url
        self._lock = threading.Lock()
        self._conn = None
        self._producer: Producer | None = None
        self._outstanding: dict[str, tuple[str, int]] = {}  # drawing_id -> (job_id, seq) not yet answered
        self.superseded = 0

    # -- connection
    def _ensure(self) -> Producer:
        if self._producer is not None:
            return self._producer
        conn = connect(self.settings, self.url, confirm=True)
        try:
            conn.ensure_connection(max_retries=1, timeout=self.settings.broker_connect_timeout_s)
            ch = conn.channel()
            declare_topology(ch, self.settings)
        except Exception as exc:
            conn.release()
            raise BusUnavailable(f"message broker unreachable: {exc}") from exc
        self._conn, self._producer = conn, Producer(ch, serializer="json")
        return self._producer

    def _drop(self) -> None:
        try:
            if self._conn is not None:
                self._conn.release()
        except Exception:
            pass
        self._conn = self._producer = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _publish(self, body: dict, **kw) -> None:
        """Publish once; on a broken connection reconnect once, then give up with BusUnavailable."""
        for attempt in (1, 2):
            producer = self._ensure()
            try:
                producer.publish(
                    body,
                    timeout=self.settings.publish_confirm_timeout_s,
                    confirm_timeout=self.settings.publish_confirm_timeout_s,
                    **kw,
                )
                return
            except Exception as exc:
                self._drop()
                if attempt == 2:
                    raise BusUnavailable(f"message broker did not take the job: {exc}") from exc
                log.warning("publish failed (%s); reconnecting once", exc)

    # -- API
    def publish(self, job: RecognizeJob) -> None:
        ttl_s = self.settings.job_ttl_ms / 1000
        with self._lock:
            if job.drawing_id is not None:
                prev = self._outstanding.get(job.drawing_id)
                if prev is not None and prev[1] < job.seq:
                    self._publish(
                        Supersede(drawing_id=job.drawing_id, seq=job.seq).model_dump(mode="json"),
                        exchange=CONTROL_EXCHANGE,
                        routing_key="",
                        delivery_mode=1,
                    )
                    self.superseded += 1
                self._outstanding[job.drawing_id] = (job.job_id, job.seq)
            self._publish(
                job.model_dump(mode="json"),
                exchange=JOBS_EXCHANGE,
                routing_key=RK_RECOGNIZE,
                delivery_mode=2,
                expiration=ttl_s,
                message_id=job.job_id,
                timestamp=int(time.time()),
            )

    def answered(self, drawing_id: str | None, job_id: str) -> None:
        """Tell the coalescer that ``job_id`` got its answer; nothing of that drawing is outstanding."""
        if drawing_id is None:
            return
        with self._lock:
            if self._outstanding.get(drawing_id, ("", 0))[0] == job_id:
                del self._outstanding[drawing_id]

    def forget(self, drawing_id: str) -> None:
        with self._lock:
            self._outstanding.pop(drawing_id, None)
