"""The edge's side of the bus: publish jobs, consume this edge's replies, wake whoever waits.

Each edge process owns a private, exclusive queue bound to ``*.<edge_id>`` on the events
exchange, so replies reach the edge that asked even with many edges and many workers.

That queue lives on the broker node the edge is connected to and goes with it. So the bridge keeps
every job it published until its answer (a practice job: until its feedback) arrives: when the reply
consumer comes back after losing the broker, it publishes the unanswered jobs again (workers answer a
job id they know from memory, the feedback engine records an attempt once per job id, and the bridge
delivers one answer and one feedback per job id), and a job whose deadline passed, or that cannot be
published, is answered with an ``error`` event carrying a code: never silently dropped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from kombu import Consumer

from bus.connection import is_memory
from bus.consumer import ResilientConsumer, drain
from bus.schemas import RecognizeJob
from bus.topology import JOB_QUEUE_NAME, edge_queue
from foundation.settings import Settings
from producers.publisher import BusUnavailable, JobPublisher

log = logging.getLogger("inkbus.edge")


CHECK_RESEND_S = 3.0  # a practice check's feedback normally follows in milliseconds; after this, send it again


class ReplyTimeout(TimeoutError):
    pass


class _ReplyConsumer(ResilientConsumer):
    """This edge's private reply queue, on the shared reconnect loop; answers go to ``EdgeBridge._on_event``."""

    name = "edge replies"

    def __init__(self, bridge: EdgeBridge):
        super().__init__(bridge.settings.broker, bridge.url, ready=bridge._consumer_ready)
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
            if b._connected_once:
                b._spawn(b._recover)  # answers sent while the queue was gone never came: send those jobs again
            b._connected_once = True
            while not self.stopping:
                drain(conn, 1.0)
                b._expire()


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
        self._seen_feedback: OrderedDict[str, None] = OrderedDict()  # graded job ids: each feedback once
        # job_id -> (job, monotonic time published), until answered (practice: until graded); guarded by
        # _inflight_lock, never held across I/O
        self._inflight: OrderedDict[str, tuple[RecognizeJob, float]] = OrderedDict()
        self._inflight_lock = threading.Lock()
        self._connected_once = False
        self._expire_at = 0.0
        self._resending = False
        self.resent = self.expired = 0
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
    def _stopping(self) -> bool:
        return self._replies.stopping

    @property
    def consuming(self) -> bool:
        return self._consumer_ready.is_set()

    # -- replies
    def _on_event(self, body, message) -> None:
        if isinstance(body, dict) and body.get("type") == "feedback":
            # Feedback shares its prediction's job id but is not the answer: never deduplicated against it.
            job_id = body.get("job_id")
            if not job_id or not _first(self._seen_feedback, job_id):
                return
            self._settle(job_id, graded=True)
            self._notify(body)
            return
        job_id = body.get("job_id") if isinstance(body, dict) else None
        if not job_id or not _first(self._seen, job_id):
            return
        self._settle(job_id, graded=body.get("type") == "error")
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

    # -- jobs in flight
    def _settle(self, job_id: str, *, graded: bool) -> None:
        """An answer (or feedback) arrived: forget the job once nothing more is due for it."""
        with self._inflight_lock:
            job = self._inflight.get(job_id, (None, 0.0))[0]
            if job is not None and (graded or job.meta.get("mode") != "practice"):
                del self._inflight[job_id]

    def _recover(self) -> None:
        """After a reconnect: publish every unanswered job again, or answer it with an error. A second pass a
        little later catches jobs the broker confirmed into a job queue that was going away with its node
        (a classic queue is re-declared on a surviving node by the first worker or edge that reconnects)."""
        self._republish(min_age_s=0.0)
        self._sleep(2 * self.settings.broker_connect_timeout_s + 1.0)
        self._republish(min_age_s=1.0)

    def _republish(self, min_age_s: float, practice_only: bool = False) -> None:
        now = time.monotonic()
        with self._inflight_lock:
            pending = [
                job
                for job, at in self._inflight.values()
                if now - at >= min_age_s and (not practice_only or job.meta.get("mode") == "practice")
            ]
        for job in pending:
            if job.deadline is not None and job.deadline < time.time():
                continue  # _expire answers it
            with self._inflight_lock:
                if job.job_id not in self._inflight:
                    continue  # answered meanwhile
                self._inflight[job.job_id] = (job, time.monotonic())
            try:
                self.publisher.publish(job)
                self.resent += 1
            except BusUnavailable as exc:
                self._fail(job, "broker_unavailable", f"the message broker lost this job ({exc}); try again")
        if pending:
            log.warning("edge %s published %d unanswered jobs again", self.edge_id, len(pending))
        self._resending = False

    def _expire(self) -> None:
        """Answer jobs whose deadline passed with ``timeout`` (superseded ones are stale to the page anyway),
        and publish practice checks again that have waited ``CHECK_RESEND_S`` for their feedback.

        Events reach the feedback engine's quorum queue without publisher confirms (the worker's hot path), so
        one published while the queue elects a new leader can be dropped; the check's job, published again,
        is answered from the worker's memory and graded once (attempts are recorded once per job id).
        Runs at most twice a second: it walks every job in flight."""
        now = time.time()
        if now < self._expire_at:
            return
        self._expire_at = now + 0.5
        stale = time.monotonic() - CHECK_RESEND_S
        with self._inflight_lock:
            late = [j for j, _ in self._inflight.values() if j.deadline is not None and j.deadline < now]
            waiting = any(at < stale and j.meta.get("mode") == "practice" for j, at in self._inflight.values())
        for job in late:
            self.expired += 1
            self._fail(job, "timeout", "no answer arrived in time; try again")
        if waiting and not self._resending:
            self._resending = True
            self._spawn(lambda: self._republish(CHECK_RESEND_S, practice_only=True))

    def _fail(self, job: RecognizeJob, code: str, message: str) -> None:
        """Answer a job the bus will not answer. An HTTP request waiting for it gets the error; otherwise the
        listeners do, even when its prediction came and only its feedback was lost."""
        with self._inflight_lock:
            if self._inflight.pop(job.job_id, None) is None:
                return  # answered meanwhile
        body = {"type": "error", "job_id": job.job_id, "drawing_id": job.drawing_id, "reply_to": job.reply_to,
                "code": code, "message": message, "meta": job.meta}  # fmt: skip
        _first(self._seen, job.job_id)
        _first(self._seen_feedback, job.job_id)
        self.publisher.answered(job.drawing_id, job.job_id)
        waiter = self._waiters.get(job.job_id)
        if waiter is not None:
            waiter[1] = body
            waiter[0].set()
        else:
            self._notify(body)

    # -- requests
    def submit(self, job: RecognizeJob) -> None:
        """Publish a job whose answer goes to the listeners (Socket.IO)."""
        if not self._consumer_ready.wait(self.settings.broker_connect_timeout_s):
            raise BusUnavailable("the edge is not connected to the message broker")
        with self._inflight_lock:
            self._inflight[job.job_id] = (job, time.monotonic())
            while len(self._inflight) > 100_000:  # jobs without a deadline that nobody answers: forget the oldest
                self._inflight.popitem(last=False)
        try:
            self.publisher.publish(job)
        except BusUnavailable:
            with self._inflight_lock:
                self._inflight.pop(job.job_id, None)
            raise

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


def _first(seen: OrderedDict, job_id: str) -> bool:
    """Remember ``job_id``; False if it was already there (a redelivered or re-sent answer)."""
    if job_id in seen:
        return False
    seen[job_id] = None
    if len(seen) > 50_000:
        seen.popitem(last=False)
    return True
