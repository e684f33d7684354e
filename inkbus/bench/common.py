"""Shared pieces of the benchmarks: sample ink, percentiles, a reply collector, worker processes."""

from __future__ import annotations

import json
import threading
import time

from foundation.settings import REPO_ROOT, Settings
from ml.ink import validate_ink

SAMPLE = REPO_ROOT / "tests" / "data" / "ink_sample.jsonl"


def load_sample(n: int) -> list[dict]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return [rows[i % len(rows)] for i in range(n)]


def validated(rows: list[dict]) -> list:
    return [validate_ink(r) for r in rows]


def percentiles(values_ms: list[float]) -> dict:
    """p50, p95 and p99 (nearest rank: ``observability.window.percentile``) and the sample size."""
    from observability.window import percentile

    xs = sorted(float(v) for v in values_ms)
    out: dict = {q: percentile(xs, int(q[1:])) for q in ("p50", "p95", "p99")}
    return {k: None if v is None else round(v, 3) for k, v in out.items()} | {"n": len(xs)}


class Replies:
    """An edge bridge on real threads that records when each job's answer arrived."""

    def __init__(self, settings: Settings):
        from web.bridge import EdgeBridge

        self.arrived: dict[str, float] = {}
        self.events: dict[str, dict] = {}
        self._cv = threading.Condition()
        self.bridge = EdgeBridge(
            settings, spawn=lambda f: threading.Thread(target=f, daemon=True).start(), make_event=threading.Event
        )
        self.bridge.add_listener(self._on)
        self.bridge.start()
        if not self.bridge._consumer_ready.wait(10):
            raise RuntimeError("cannot consume replies: is RabbitMQ reachable?")

    def _on(self, body: dict) -> None:
        with self._cv:
            self.arrived[body["job_id"]] = time.perf_counter()
            self.events[body["job_id"]] = body
            self._cv.notify_all()

    def wait_for(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.arrived) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def close(self) -> None:
        self.bridge.stop()


def wait_for_consumers(settings: Settings, queue: str, timeout: float = 60) -> None:
    from bus.connection import read_queue_stats

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = read_queue_stats(settings.broker, [queue])[queue]
        if stats is not None and stats[1] > 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no consumer on {queue} after {timeout}s")
