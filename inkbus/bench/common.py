"""Shared pieces of the benchmarks: sample ink, percentiles, a reply collector, worker processes."""

from __future__ import annotations

import json
import threading
import time

import numpy as np

from inkbus.settings import REPO_ROOT, Settings
from ml.ink import validate_ink

SAMPLE = REPO_ROOT / "tests" / "data" / "ink_sample.jsonl"


def load_sample(n: int) -> list[dict]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return [rows[i % len(rows)] for i in range(n)]


def validated(rows: list[dict]) -> list:
    return [validate_ink(r) for r in rows]


def percentiles(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    a = np.asarray(values_ms)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "n": len(a),
    }


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
    from bus.connection import connect, queue_stats

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = connect(settings)
        try:
            if queue_stats(conn.channel(), queue)[1] > 0:
                return
        except Exception:
            pass
        finally:
            conn.release()
        time.sleep(0.2)
    raise RuntimeError(f"no consumer on {queue} after {timeout}s")
