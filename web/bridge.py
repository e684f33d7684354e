"""The edge's side of the bus: publish jobs, consume this edge's replies, wake whoever waits.

Each edge process owns a private, exclusive queue bound to ``*.<edge_id>`` on the events
exchange, so replies reach the edge that asked even with many edges and many workers.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from kombu import Consumer

from bus.connection import is_memory
from bus.consumer import ResilientConsumer, drain
from bus.schemas import RecognizeJob
from bus.topology import JOB_QUEUE_NAME, edge_queue
from inkbus.settings import Settings
from producers.publisher import BusUnavailable, JobPublisher

log = logging.getLogger("inkbus.edge")


class ReplyTimeout(TimeoutError):
    pass


class _ReplyConsumer(ResilientConsumer):
    """This edge's private reply queue, on the shared reconnect loop; answers go to ``EdgeBridge._on_event``."""

    name = "edge replies"

    def __init__(self, bridge: EdgeBridge):
        super().__init__(bridge.settings, bridge.url, ready=bridge._consumer_ready)
        self.bridge = bridge

    def pause(self, seconds: float) -> None:
        self.bridge._sleep(seconds)  # the server's own sleep: cooperative under gevent and eventlet

    def serve(self, conn) -> None:
        b = self.bridge
        queue = edge_queue(b.edge_id)
        with Consumer(
            conn.channel(), [queue], callbacks=[b._on_event], accept=["json"], no_ack=True, on_decode_error=_ignore
        ):
            self.ready.set()
            log.info("edge %s consuming its replies", b.edge_id)
            while not self.stopping:
                drain(conn, 1.0)


def _ignore(_message, _exc) -> None:
    """An undecodable reply is dropped: nothing waits for it by a name we could read."""


class EdgeBridge:
    def __init__(
        self,
        settings: Settings,
        *,
        url: str | None = None,
        spawn: Callable,
        make_event: Callable,
        sleep: Callable = time.sleep,
        local_workers: Callable[[], int] | None = None,
    ):
        self.settings = settings
        self.url = url or settings.broker_url
        self.edge_id = "edge-" + uuid.uuid4().hex[:12]
        self.publisher = JobPublisher(settings, self.url)
        self._spawn, self._make_event, self._sleep = spawn, make_event, sleep
        self._local_workers = local_workers
        self._waiters: dict[str, list] = {}  # job_id -> [event, reply]
        self._seen: OrderedDict[str, None] = OrderedDict()  # answered job ids: each answer once
        self._listeners: list[Callable[[dict], None]] = []
        self._consumer_ready = make_event()
        self._replies = _ReplyConsumer(self)
        self._stats_cache: tuple[float, tuple[int, int] | None] = (0.0, None)
        self._refreshing = False

    # -- lifecycle
    def start(self) -> None:
        self._spawn(self._replies.run)
        if not is_memory(self.url) and self.settings.broker_heartbeat_s > 0:
            self._spawn(self._keep_alive_forever)

    def _keep_alive_forever(self) -> None:
        """The publisher's pooled connections idle between requests: keep their heartbeats going
        (four checks per interval, so one is sent before the broker's two-interval limit)."""
        interval = self.settings.broker_heartbeat_s / 4
        while not self._stopping:
            self._sleep(interval)
            try:
                self.publisher.keep_alive()
            except Exception:
                log.exception("publisher keep-alive failed")

    def stop(self) -> None:
        self._replies.stop()
        self.publisher.close()

    def add_listener(self, fn: Callable[[dict], None]) -> None:
        """Called with every event for this edge that no HTTP request is waiting for (Socket.IO)."""
        self._listeners.append(fn)

    @property
    def consuming(self) -> bool:
        return self._consumer_ready.is_set()

    # -- replies
    def _on_event(self, body, message) -> None:
        if isinstance(body, dict) and body.get("type") == "feedback":
            # Feedback shares its prediction's job id but is not the answer: never deduplicated against it.
            self._notify(body)
            return
        job_id = body.get("job_id") if isinstance(body, dict) else None
        if not job_id or job_id in self._seen:
            return
        self._seen[job_id] = None
        if len(self._seen) > 50_000:
            self._seen.popitem(last=False)
        self.publisher.answered(body.get("drawing_id"), job_id)
        waiter = self._waiters.get(job_id)
        if waiter is not None:
            waiter[1] = body
            waiter[0].set()
            return
        self._notify(body)

    def _notify(self, body: dict) -> None:
        for fn in self._listeners:
            try:
                fn(body)
            except Exception:
                log.exception("event listener failed")

    # -- requests
    def submit(self, job: RecognizeJob) -> None:
        """Publish a job whose answer goes to the listeners (Socket.IO)."""
        if not self._consumer_ready.wait(self.settings.broker_connect_timeout_s):
            raise BusUnavailable("the edge is not connected to the message broker")
        self.publisher.publish(job)

    def request(self, job: RecognizeJob, timeout: float) -> dict:
        """Publish a job and wait for its event (prediction or error), all within ``timeout``."""
        waiter = [self._make_event(), None]
        self._waiters[job.job_id] = waiter
        end = time.monotonic() + timeout
        try:
            self.submit(job)
            if not waiter[0].wait(max(0.0, end - time.monotonic())):
                raise ReplyTimeout(f"no worker answered within {timeout:g} s")
            return waiter[1]
        finally:
            self._waiters.pop(job.job_id, None)

    # -- health
    def job_queue_stats(self, max_age_s: float = 1.0, block: bool = True) -> tuple[int, int] | None:
        """(jobs waiting, workers consuming), cached briefly; None when the broker is unreachable.

        ``block=False`` is for the recognition hot path: a stale (but under 10 s old) answer is
        returned at once and refreshed in the background, so no pen-up waits for a refresh's
        broker round trip (a periodic stall otherwise, seen in ``inkbus bench``'s stage breakdown).
        """
        at, cached = self._stats_cache
        age = time.monotonic() - at
        if age < max_age_s:
            return cached
        if not block and at > 0 and age < 10.0 and not is_memory(self.url):
            if not self._refreshing:
                self._refreshing = True
                self._spawn(self._refresh_stats)
            return cached
        return self._refresh_stats()

    def _refresh_stats(self) -> tuple[int, int] | None:
        try:
            if is_memory(self.url):
                stats = (0, self._local_workers() if self._local_workers else 0)
            else:  # over the publisher's pooled channels: no connection opened per refresh
                stats = self.publisher.queue_stats(JOB_QUEUE_NAME)
            self._stats_cache = (time.monotonic(), stats)
            return stats
        finally:
            self._refreshing = False
