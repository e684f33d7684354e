"""A rolling window of recent recognitions at one edge: what the /ops page shows without Prometheus.

Appends are O(1) and bounded; the percentiles are computed only when the page asks (every second or two).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

WINDOW_S = 60.0  # percentiles and error counts over the last minute
RATE_S = 10.0  # recognitions/s over the last ten seconds: moves quickly, yet not jumpy


@dataclass(frozen=True)
class Outcome:
    at: float
    kind: str  # socket | http
    outcome: str  # ok, or an error code
    latency_s: float | None
    batch_size: int | None


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list: the project's one percentile (the /ops page, the
    chat status command, ``inkbus bench``), so the same figure means the same thing everywhere."""
    if not sorted_values:
        return None
    rank = max(1, round(q / 100 * len(sorted_values) + 0.5 - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class OpsWindow:
    def __init__(self, maxlen: int = 20_000, clock=time.monotonic):
        self._items: deque[Outcome] = deque(maxlen=maxlen)
        self._clock = clock
        self._lock = threading.Lock()
        self.model: str | None = None
        self.total: Counter = Counter()

    def record(self, kind: str, outcome: str, latency_s: float | None = None, batch_size: int | None = None) -> None:
        with self._lock:
            self._items.append(Outcome(self._clock(), kind, outcome, latency_s, batch_size))
            self.total[outcome] += 1

    def snapshot(self) -> dict:
        now = self._clock()
        with self._lock:
            recent = [o for o in self._items if now - o.at <= WINDOW_S]
        ok = [o for o in recent if o.outcome == "ok"]
        latencies = sorted(o.latency_s * 1000 for o in ok if o.latency_s is not None)
        batches = [o.batch_size for o in ok if o.batch_size]
        errors = Counter(o.outcome for o in recent if o.outcome != "ok")
        fresh = sum(1 for o in ok if now - o.at <= RATE_S)
        return {
            "recognitions_per_s": round(fresh / RATE_S, 2),
            "latency_ms": {f"p{q}": _round(percentile(latencies, q)) for q in (50, 95, 99)},
            "batch_size": {
                "mean": _round(sum(batches) / len(batches)) if batches else None,
                "max": max(batches) if batches else None,
            },
            "errors": {"count": sum(errors.values()), "by_code": dict(errors.most_common(8))},
            "requests": len(recent),
            "window_s": WINDOW_S,
            "model": self.model,
        }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
