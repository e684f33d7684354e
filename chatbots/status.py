"""What a front end knows about the system: queue stats from the broker, and a window of recent answers.

The edge feeds it every event its bridge sees; the bots feed it the feedback events they consume.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from observability.window import percentile


class LiveStatus:
    def __init__(self, queue_stats: Callable[[], tuple[int, int] | None], window: int = 200):
        self._queue_stats = queue_stats  # -> (jobs waiting, workers consuming), None if the broker is down
        self._latencies: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()
        self.model: str | None = None
        self.last_seen: float | None = None

    def observe(self, event: dict) -> None:
        """Note the model version and the job→answer latency of one prediction or feedback event."""
        if not isinstance(event, dict) or event.get("type") not in ("prediction", "feedback"):
            return
        latency = event.get("latency_ms")
        if latency is None and event.get("type") == "prediction":
            try:
                latency = (float(event["produced_at"]) - float(event["created_at"])) * 1000
            except (KeyError, TypeError, ValueError):
                latency = None
        with self._lock:
            if event.get("model"):
                self.model = str(event["model"])
            if isinstance(latency, (int, float)) and math.isfinite(latency) and latency >= 0:
                self._latencies.append(float(latency))
            self.last_seen = time.time()

    def p95(self) -> float | None:
        with self._lock:
            xs = sorted(self._latencies)
        p = percentile(xs, 95)
        return None if p is None else round(p, 3)

    def snapshot(self) -> dict:
        stats = self._queue_stats()
        return {
            "broker": stats is not None,
            "queued": stats[0] if stats else None,
            "workers": stats[1] if stats else 0,
            "model": self.model,
            "p95_ms": self.p95(),
            "samples": len(self._latencies),
        }
