"""The edge's observability: ``/metrics`` (Prometheus), the ops page ``/ops`` and its JSON ``/ops/api/state``.

Recognition outcomes are recorded where the edge sees them (sockets.py calls ``EdgeObserver.record``; HTTP
recognitions are recorded after each response), into Prometheus metrics and the ops page's rolling window.
Queue depth and consumers are read from RabbitMQ only when someone asks (a scrape or the page), cached 1 s.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from bus.connection import is_memory, read_queue_stats
from bus.topology import DEAD_LETTER_QUEUE_NAME, JOB_QUEUE_NAME
from foundation.settings import Settings
from observability import metrics
from observability.window import OpsWindow

log = logging.getLogger("inkbus.ops")
bp = Blueprint("ops", __name__)
RECOGNIZE_PATH = "/api/v1/recognize"


def watched_queues(spec: str) -> dict[str, str]:
    """``"sink=inkbus.sub.telemetry,bots=inkbus.sub.bots"`` -> {component: queue}."""
    pairs = (item.split("=", 1) for item in spec.split(",") if "=" in item)
    return {name.strip(): queue.strip() for name, queue in pairs if name.strip() and queue.strip()}


class QueueProbe:
    """(ready, consumers) of the queues an operator watches, or None for a queue that does not exist."""

    def __init__(self, settings: Settings, bridge, queues: list[str]):
        self.settings, self.bridge, self.queues = settings, bridge, queues
        self._cache: tuple[float, dict] = (-1e9, {})

    def read(self, max_age_s: float = 1.0) -> dict:
        at, cached = self._cache
        if time.monotonic() - at < max_age_s:
            return cached
        jobs = self.bridge.job_queue_stats(max_age_s=max_age_s)
        out = {"_broker": jobs is not None, JOB_QUEUE_NAME: jobs}
        if jobs is not None and not is_memory(self.bridge.url):
            out.update(self._passive(self.queues))
        self._cache = (time.monotonic(), out)
        return out

    def _passive(self, names: list[str]) -> dict:
        return read_queue_stats(self.settings.broker, names, self.bridge.url)


class EdgeObserver:
    def __init__(self, settings: Settings, bridge):
        self.window = OpsWindow()
        self.sessions = None
        self.components = watched_queues(settings.ops_watch_queues)
        queues = [DEAD_LETTER_QUEUE_NAME, *self.components.values()]
        self.probe = QueueProbe(settings, bridge, queues)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(metrics.QueueCollector({q: self._reader(q) for q in [JOB_QUEUE_NAME, *queues]}))

    def _reader(self, queue: str):
        return lambda: self.probe.read().get(queue)

    def record(self, kind: str, outcome: str, latency_s: float | None = None, batch_size: int | None = None) -> None:
        metrics.REQUESTS.labels(kind=kind, outcome=outcome).inc()
        if outcome == "ok" and latency_s is not None:
            metrics.PENUP_TO_PREDICTION.labels(kind=kind).observe(latency_s)
        self.window.record(kind, outcome, latency_s, batch_size)

    def seen_model(self, model: str | None) -> None:
        if model:
            self.window.model = model

    def state(self) -> dict:
        q = self.probe.read()
        jobs = q.get(JOB_QUEUE_NAME)
        components = {"edge": "up", "broker": "up" if q["_broker"] else "down"}
        components["workers"] = "up" if jobs and jobs[1] > 0 else "down"
        for name, queue in self.components.items():
            got = q.get(queue)
            components[name] = "absent" if got is None else ("up" if got[1] > 0 else "down")
        dlq = q.get(DEAD_LETTER_QUEUE_NAME)
        return {
            **self.window.snapshot(),
            "queue": {"depth": jobs[0] if jobs else None, "consumers": jobs[1] if jobs else 0},
            "dead_letters": dlq[0] if dlq else None,
            "clients": self.sessions.connections() if self.sessions else 0,
            "components": components,
            "time": time.time(),
        }


def _observer() -> EdgeObserver:
    return current_app.extensions["inkbus.ops"]


@bp.get("/metrics")
def prometheus_metrics():
    return Response(metrics.exposition(_observer().registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/ops")
def ops_page():
    return render_template("ops.html")


@bp.get("/ops/api/state")
def ops_state():
    return jsonify(_observer().state())


def _http_started():
    if request.path == RECOGNIZE_PATH:
        g.inkbus_t0 = time.perf_counter()


def _http_finished(response):
    """Record each HTTP recognition by outcome: ok, or the error code the API answered with."""
    t0 = getattr(g, "inkbus_t0", None)
    if t0 is None:
        return response
    body = response.get_json(silent=True) if response.is_json else None
    body = body if isinstance(body, dict) else {}
    obs = _observer()
    if response.status_code == 200:
        batch = (body.get("timings") or {}).get("batch_size")
        obs.record("http", "ok", time.perf_counter() - t0, batch)
        obs.seen_model(body.get("model"))
        log.debug("http recognition answered", extra={"job_id": body.get("job_id")})
    else:
        code = (body.get("error") or {}).get("code") or f"http_{response.status_code}"
        obs.record("http", code)
    return response


def init_ops(app, bridge, sessions, settings: Settings) -> EdgeObserver:
    observer = EdgeObserver(settings, bridge)
    app.extensions["inkbus.ops"] = observer
    sessions.observer = observer
    observer.sessions = sessions
    app.before_request(_http_started)
    app.after_request(_http_finished)
    app.register_blueprint(bp)
    return observer
