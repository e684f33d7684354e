"""Every Prometheus metric of Inkbus, defined once: the edge, the workers and the sink import them from here.

Multiprocess-safe: when ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is imported (prefork
workers), prometheus_client keeps the values in memory-mapped files and ``registry()`` aggregates them.
Observations are in-memory increments only: nothing here touches the network on the hot path.
docs/OBSERVABILITY.md lists each metric; the Grafana test checks every panel queries a name in ``NAMES``.
"""

from __future__ import annotations

import os
from collections import Counter as _Counter

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily

# `*_created` series double the exposition and no dashboard or alert reads them.
disable_created_metrics()

# Latency buckets in seconds: a live guess should come back in tens of milliseconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)

# -- worker
JOBS = Counter("inkbus_jobs_total", "Recognition jobs a worker finished, by outcome", ["outcome"])
BATCH_SIZE = Histogram("inkbus_batch_size", "Jobs in one forward pass", buckets=BATCH_BUCKETS)
QUEUE_WAIT = Histogram(
    "inkbus_queue_wait_seconds", "From a job's creation to a worker taking it", buckets=LATENCY_BUCKETS
)
RENDER = Histogram("inkbus_render_seconds", "Rasterising, per job (batch time / batch size)", buckets=STAGE_BUCKETS)
INFERENCE = Histogram(
    "inkbus_inference_seconds", "Forward pass, per job (batch time / batch size)", buckets=STAGE_BUCKETS
)
CONFIDENCE = Histogram(
    "inkbus_prediction_confidence", "Probability of the top-1 label of each prediction", buckets=CONFIDENCE_BUCKETS
)
RECONNECTS = Counter("inkbus_worker_reconnects_total", "Times a batching consumer lost the broker and reconnected")
# The info-metric convention (value 1, the facts as labels): prometheus_client's Info type is not multiprocess-safe.
MODEL_INFO = Gauge(
    "inkbus_model_info", "The model artifact a process serves", ["version"], multiprocess_mode="mostrecent"
)

# -- edge
REQUESTS = Counter(
    "inkbus_requests_total", "Recognition requests at the edge, by transport and outcome", ["kind", "outcome"]
)
PENUP_TO_PREDICTION = Histogram(
    "inkbus_penup_to_prediction_seconds",
    "From the edge receiving a pen-up (or an HTTP body) to it sending the prediction",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
CONNECTED_CLIENTS = Gauge("inkbus_connected_clients", "Open Socket.IO connections", multiprocess_mode="livesum")

# -- practice mode (tutoring): defined here so dashboards and alerts have one name to use.
PRACTICE_ATTEMPTS = Counter(
    "inkbus_practice_attempts_total", "Practice-mode attempts graded by the tutor, by result", ["result"]
)

# -- telemetry sink
SINK_POINTS = Counter("inkbus_sink_points_written_total", "Points the sink wrote to InfluxDB")
SINK_WRITE_ERRORS = Counter("inkbus_sink_write_errors_total", "Failed InfluxDB writes (retried; nothing is acked)")
SINK_BUFFERED = Gauge(
    "inkbus_sink_buffered_events", "Events held unacked, waiting for a write", multiprocess_mode="livesum"
)

# -- read from RabbitMQ at scrape time (see QueueCollector)
QUEUE_MESSAGES = "inkbus_queue_messages"
QUEUE_CONSUMERS = "inkbus_queue_consumers"

# Every metric name the app exports (without the _total/_bucket/_sum/_count suffixes Prometheus adds).
NAMES = frozenset(
    {
        "inkbus_jobs",
        "inkbus_batch_size",
        "inkbus_queue_wait_seconds",
        "inkbus_render_seconds",
        "inkbus_inference_seconds",
        "inkbus_prediction_confidence",
        "inkbus_worker_reconnects",
        "inkbus_model_info",
        "inkbus_requests",
        "inkbus_penup_to_prediction_seconds",
        "inkbus_connected_clients",
        "inkbus_practice_attempts",
        "inkbus_sink_points_written",
        "inkbus_sink_write_errors",
        "inkbus_sink_buffered_events",
        QUEUE_MESSAGES,
        QUEUE_CONSUMERS,
    }
)

# Keys of the batching consumer's ``stats`` that are job outcomes (the rest are not per-job).
JOB_OUTCOMES = {"answered", "invalid", "failed", "expired", "superseded", "duplicates", "poison"}


class JobStats(_Counter):
    """The batching consumer's ``stats`` Counter, mirrored into ``inkbus_jobs_total``.

    Why a Counter subclass: the consumer already counts every outcome with ``stats[k] += n``; mirroring
    those writes keeps the batcher's code as it is and the two counts from ever disagreeing.
    """

    def __setitem__(self, key, value) -> None:
        delta = value - self.get(key, 0)
        super().__setitem__(key, value)
        if delta > 0:
            if key in JOB_OUTCOMES:
                JOBS.labels(outcome=key).inc(delta)
            elif key == "reconnects":
                RECONNECTS.inc(delta)


def observe_batch(events) -> None:
    """Per batch: its size, and each prediction's stage timings and confidence (cheap in-memory updates)."""
    predictions = [e for e in events if getattr(e, "type", None) == "prediction"]
    if not predictions:
        return
    BATCH_SIZE.observe(predictions[0].timings.batch_size)
    for e in predictions:
        t = e.timings
        QUEUE_WAIT.observe(t.queue_ms / 1000)
        RENDER.observe(t.render_ms / 1000)
        INFERENCE.observe(t.inference_ms / 1000)
        if e.top:
            CONFIDENCE.observe(e.top[0].p)


def set_model(version: str) -> None:
    MODEL_INFO.labels(version=version).set(1)


class QueueCollector:
    """Queue depth and consumers, read from RabbitMQ when Prometheus scrapes (never per job).

    ``stats`` maps a queue name to a callable returning (messages ready, consumers) or None when unreachable.
    """

    def __init__(self, stats):
        self.stats = stats

    def collect(self):
        depth = GaugeMetricFamily(QUEUE_MESSAGES, "Messages ready in a RabbitMQ queue", labels=["queue"])
        consumers = GaugeMetricFamily(QUEUE_CONSUMERS, "Consumers of a RabbitMQ queue", labels=["queue"])
        for name, read in self.stats.items():
            got = read()
            if got is not None:
                depth.add_metric([name], got[0])
                consumers.add_metric([name], got[1])
        yield depth
        yield consumers


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def registry() -> CollectorRegistry:
    """What a process exposes: its own metrics, or every process's when running multiprocess."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
        return reg
    from prometheus_client import REGISTRY

    return REGISTRY


def exposition(*extra: CollectorRegistry) -> bytes:
    """The text format of ``registry()`` plus per-app registries (queue stats) with names of their own."""
    return b"".join([generate_latest(registry()), *(generate_latest(r) for r in extra)])


def process_exit(pid: int) -> None:
    """A prefork child is gone: drop its live gauges (connected clients, buffered events)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def start_server(port: int, host: str) -> bool:
    """Serve ``/metrics`` on a thread of its own (workers, sink); False (and go on) if the port is taken."""
    import logging

    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=registry())
    except OSError as exc:
        logging.getLogger("inkbus.metrics").warning("metrics server not started on %s:%d: %s", host, port, exc)
        return False
    return True
