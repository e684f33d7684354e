"""``inkbus sink``: prediction and feedback events from the bus -> InfluxDB 2 (v2 write API).

No loss on a short outage: an event is acked only after the write that holds its point succeeded. A failed
write keeps the batch and retries with backoff (0.5 s doubling to ``sink_retry_max_s``) while the channel
stays open; the buffer is bounded by the channel's prefetch (``sink_buffer_max``), so the broker keeps the
rest, and a sink killed mid-outage leaves its events unacked for the broker to redeliver.

Why not influxdb-client's own batching WriteApi: it reports success or failure through callbacks on its
own thread and drops a batch once its retries run out, so there is no point where a bus ack is safe.
We batch here and write synchronously instead.
"""

from __future__ import annotations

import logging
import time

from kombu import Consumer

from bus.consumer import ResilientConsumer, dead_letter_on_failure, drain
from bus.topology import declare_topology, telemetry_queue
from foundation.settings import Settings
from observability import metrics
from observability.points import FEEDBACK, to_point

log = logging.getLogger("inkbus.sink")
# HTTP statuses that say the points themselves are bad (malformed, too large, a field's type changed):
# the same write would be refused again. Anything else (down, 5xx, 429, auth) is retried.
REFUSED = {400, 413, 422}


class InfluxWriter:
    """Synchronous writes to one bucket; raises on any failure (the caller retries)."""

    def __init__(self, settings: Settings):
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.settings = settings
        self.client = InfluxDBClient(
            url=settings.influx_url,
            token=settings.influx_token.get_secret_value(),
            org=settings.influx_org,
            timeout=10_000,
            retries=0,  # the sink's own loop retries, and acks only after success
        )
        self.api = self.client.write_api(write_options=SYNCHRONOUS)

    def write(self, points: list) -> None:
        self.api.write(bucket=self.settings.influx_bucket, org=self.settings.influx_org, record=points)

    def close(self) -> None:
        self.client.close()


class TelemetrySink(ResilientConsumer):
    name = "telemetry sink"

    def __init__(self, settings: Settings, writer=None, *, url: str | None = None):
        super().__init__(settings.broker, url)
        self.settings = settings
        self.writer = writer or InfluxWriter(settings)
        self.written = 0
        self._buf: list = []  # (point or None, message), in delivery order
        self._first = 0.0  # monotonic time the oldest buffered event arrived
        self._retry_at = 0.0
        self._backoff = 0.5
        self._conn = None  # the connection being served: tells a transport failure from a bad event

    def on_release(self) -> None:
        # unacked events are redelivered to the next channel
        self._buf.clear()
        metrics.SINK_BUFFERED.set(0)

    def serve(self, conn) -> None:
        self._conn = conn
        ch = conn.channel()
        declare_topology(ch, self.settings.queues)
        ch.basic_qos(0, self.settings.sink_buffer_max, False)  # the bounded buffer: the broker holds the rest
        queue = telemetry_queue(self.settings.queues)
        with Consumer(ch, [queue], callbacks=[self._on_event], accept=["json"], on_decode_error=self._on_junk):
            self.ready.set()
            log.info("sink consuming %s into bucket %s", queue.name, self.settings.influx_bucket)
            while not self.stopping:
                drain(conn, 0.2)
                if self._due():
                    self._flush()
            if self._buf:
                self._flush()  # a clean stop writes what it holds (unacked anyway if this fails)

    def _on_event(self, body, message) -> None:
        with dead_letter_on_failure(self._conn, [message], "buffering an event"):
            point = to_point(body)
            if not self._buf:
                self._first = time.monotonic()
            self._buf.append((point, message))
            metrics.SINK_BUFFERED.set(len(self._buf))
            if isinstance(body, dict) and body.get("type") == "feedback" and body.get("mode") == "practice":
                if body.get("correct") is not None:
                    metrics.PRACTICE_ATTEMPTS.labels(result="correct" if body["correct"] else "wrong").inc()

    def _on_junk(self, message, exc) -> None:
        log.warning("undecodable event dropped: %s", exc)
        message.ack()

    def _due(self) -> bool:
        if not self._buf or time.monotonic() < self._retry_at:
            return False
        full = len(self._buf) >= min(self.settings.sink_batch_size, self.settings.sink_buffer_max)
        return full or time.monotonic() - self._first >= self.settings.sink_flush_interval_s

    def _flush(self) -> None:
        while self._buf:
            chunk = self._buf[: self.settings.sink_batch_size]
            points = [p for p, _ in chunk if p is not None]
            try:
                if points:
                    self.writer.write(points)
            except Exception as exc:
                metrics.SINK_WRITE_ERRORS.inc()
                if getattr(exc, "status", None) in REFUSED:  # retrying would hold the queue forever
                    log.error("InfluxDB refused %d points (%s); dropping them", len(points), exc)
                    for _, message in chunk:
                        message.reject(requeue=False)
                    del self._buf[: len(chunk)]
                    continue
                # InfluxDB down or busy: keep everything, try again later
                self._retry_at = time.monotonic() + self._backoff
                log.warning("write of %d points failed (%s); retrying in %.1fs", len(points), exc, self._backoff)
                self._backoff = min(self._backoff * 2, self.settings.sink_retry_max_s)
                return
            for _, message in chunk:
                message.ack()
            del self._buf[: len(chunk)]
            self.written += len(points)
            metrics.SINK_POINTS.inc(len(points))
            metrics.SINK_BUFFERED.set(len(self._buf))
            self._backoff, self._retry_at = 0.5, 0.0
        self._first = time.monotonic()


def run_sink(settings: Settings) -> None:
    """The CLI's entry: metrics server, then consume until interrupted."""
    if settings.sink_metrics_port:
        metrics.start_server(settings.sink_metrics_port, settings.metrics_host)
    sink = TelemetrySink(settings)
    log.info("telemetry sink writing to %s (measurements inkbus_prediction, %s)", settings.influx_url, FEEDBACK)
    try:
        sink.run()
    except KeyboardInterrupt:
        sink.stop()
    finally:
        sink.writer.close()
