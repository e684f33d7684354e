"""One percentile: the /ops window, the chat status command and the benchmark report the same figure."""

from __future__ import annotations

from chatbots.status import LiveStatus
from inkbus.bench.common import percentiles
from observability.window import percentile


def test_everyone_uses_the_nearest_rank_percentile():
    values = [float(v) for v in range(1, 101)]  # 1..100: nearest rank p95 = 95, p99 = 99
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile([], 95) is None
    assert percentiles(list(reversed(values))) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "n": 100}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None, "n": 0}
    status = LiveStatus(lambda: None, window=200)
    for v in values:
        status.observe({"type": "feedback", "latency_ms": v})
    assert status.p95() == percentile(values, 95)
