"""`inkbus bench-queues` runs against the real broker and reports every queue type it compares (figures are not
asserted: they belong to docs/PROTOCOL.md, measured on a quiet machine)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from inkbus.bench.queue_types import VARIANTS
from inkbus.cluster_cli import bench_queues


def test_bench_queues_measures_each_queue_type_and_cleans_up(settings, rabbit_url):
    res = CliRunner().invoke(bench_queues, ["--paced", "10", "--burst", "20"], env={"INKBUS_BROKER_URL": rabbit_url})
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout[res.stdout.index("{") :])
    assert set(results) == set(VARIANTS)
    for row in results.values():
        assert row["round_trip_p50_ms"] > 0 and row["drain_per_s"] > 0
    assert [q for q in _queue_names(rabbit_url) if q.startswith("inkbus.bench.")] == []  # it deletes its queues


def _queue_names(url: str) -> list[str]:
    import shutil
    import subprocess
    from urllib.parse import urlsplit

    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return []
    vhost = urlsplit(url).path.lstrip("/") or "/"
    out = subprocess.run(
        [ctl, "list_queues", "-p", vhost, "name", "--formatter", "json"], capture_output=True, text=True
    )
    return [row["name"] for row in json.loads(out.stdout or "[]")]
