"""Live model swap over real RabbitMQ: two `inkbus worker` processes under a steady load of recognitions.

A promotion, a corrupt artifact and a rollback happen while jobs flow. Every job is answered, each
worker's answers change version only in the order the notices were sent, and the corrupt artifact
is refused with an alert while the serving model goes on answering.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from bus.connection import connect, queue_stats
from bus.schemas import RecognizeJob
from bus.topology import DEAD_LETTER_QUEUE_NAME, JOB_QUEUE_NAME
from ml.registry import Registry
from producers.model_notice import serve_version
from producers.publisher import JobPublisher
from tests.helpers import Proc, inkbus_cmd, sample_ink, wait_until
from tests.loop_tools import AlertTap, versioned_copy

pytestmark = pytest.mark.timeout(600)


class SteadyLoad:
    """Publishes recognition jobs at a steady pace on a thread until stopped."""

    def __init__(self, settings, url: str, reply_to: str, per_second: float = 25.0):
        self.sent: list[str] = []
        # No expiry: on a busy machine a live job's 10 s TTL could drop a job, and the test would not tell
        # a job the swap lost from one the broker expired by design.
        self._pub = JobPublisher(settings.model_copy(update={"job_ttl_ms": 3_600_000}), url)
        self._inks = itertools.cycle([{"strokes": r["strokes"]} for r in sample_ink()])
        self._pause = 1.0 / per_second
        self._reply_to = reply_to
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            job = RecognizeJob(ink=next(self._inks), reply_to=self._reply_to, top_k=3)
            self._pub.publish(job)
            self.sent.append(job.job_id)
            time.sleep(self._pause)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._pub.close()


def _versions_by_worker(collector, since: int = 0) -> dict[str, list[str]]:
    """Each worker's answers in the order it produced them: the model version of each."""
    events = sorted((e for e in collector.events.values() if e["type"] == "prediction"), key=lambda e: e["produced_at"])
    out: dict[str, list[str]] = {}
    for e in events[since:]:
        out.setdefault(e["worker"], []).append(e["model"])
    return out


def _runs(versions: list[str]) -> list[str]:
    return [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]


def _all_serve(collector, workers: list[str], version: str, after: float) -> bool:
    latest: dict[str, str] = {}
    for e in sorted(collector.events.values(), key=lambda e: e.get("produced_at", 0)):
        if e.get("type") == "prediction" and e["produced_at"] > after:
            latest[e["worker"]] = e["model"]
    return len(latest) == len(workers) and all(latest.get(w) == version for w in workers)


def test_two_workers_swap_models_live_without_losing_a_job(settings, rabbit_url, collector, tmp_path):
    registry_dir = tmp_path / "registry"
    registry = Registry.open(registry_dir)
    for v in ("swap-v1", "swap-v2", "swap-v3"):
        registry.register(versioned_copy(settings.model_path, tmp_path / f"{v}.pt", v))
    registry.set_serving("swap-v1", reason="the model the workers start with")
    alerts = AlertTap(settings, rabbit_url)
    workers = [
        Proc(
            inkbus_cmd("worker"),
            {
                "INKBUS_BROKER_URL": rabbit_url,
                "INKBUS_MODEL_REGISTRY": str(registry_dir),
                "INKBUS_MODEL_FROM_REGISTRY": "true",
                "INKBUS_MODEL_CACHE_DIR": str(tmp_path / f"cache-{i}"),
                "INKBUS_WORKER_METRICS_PORT": "0",
                "INKBUS_BATCH_MAX": "8",  # small batches: both workers get a share of a modest load
            },
            tmp_path / f"worker-{i}.log",
        )
        for i in range(2)
    ]
    load = None
    try:
        load = SteadyLoad(settings, rabbit_url, collector.edge_id)

        def both_answer():
            seen = sorted(_versions_by_worker(collector))
            return seen if len(seen) == 2 else None

        names = wait_until(both_answer, 180, what="answers from both worker processes")
        assert all(set(v) == {"swap-v1"} for v in _versions_by_worker(collector).values())

        t = time.time()
        serve_version(settings, registry, "swap-v2", reason="better on every figure", url=rabbit_url)
        wait_until(lambda: _all_serve(collector, names, "swap-v2", t), 120, what="both workers on swap-v2")

        # A corrupt artifact in the store: its bytes no longer match the checksum the notice carries.
        stored = registry_dir / "versions" / "swap-v3" / "model.pt"
        stored.write_bytes(stored.read_bytes()[:-4096] + b"\0" * 4096)
        t_bad = time.time()
        serve_version(settings, registry, "swap-v3", reason="a damaged upload", url=rabbit_url)

        def refusals():
            found = [a for a in alerts.alerts if "refused model swap-v3" in a.get("title", "")]
            return found if len(found) == 2 else None

        refused = wait_until(refusals, 120, what="both workers refusing the corrupt artifact")
        assert all(a["level"] == "error" and "sha256" in a["text"] for a in refused)
        t_after = max(a["produced_at"] for a in refused)
        wait_until(lambda: _all_serve(collector, names, "swap-v2", t_after), 60, what="swap-v2 still serving")
        assert t_after > t_bad

        t = time.time()
        serve_version(settings, registry, "swap-v1", reason="back to the first model", rollback=True, url=rabbit_url)
        wait_until(lambda: _all_serve(collector, names, "swap-v1", t), 120, what="both workers back on swap-v1")
        load.stop()
        sent = list(load.sent)
        try:
            wait_until(lambda: set(sent) <= set(collector.delivered), 120, what="every job answered")
        except AssertionError:
            conn = connect(settings.broker, rabbit_url)
            stats = {q: queue_stats(conn.channel(), q) for q in (JOB_QUEUE_NAME, DEAD_LETTER_QUEUE_NAME)}
            conn.release()
            missing = set(sent) - set(collector.delivered)
            logs = "\n".join(w.output()[-2000:] for w in workers)
            raise AssertionError(f"{len(missing)} of {len(sent)} jobs unanswered; queues {stats}\n{logs}") from None
    finally:
        if load is not None:
            load.stop()
        alerts.close()
        for w in workers:
            w.kill()

    assert len(sent) > 20  # a steady load ran through every switch (how many depends on the machine's speed)
    assert all(collector.events[j]["type"] == "prediction" for j in sent), "no job may end in an error"
    by_worker = _versions_by_worker(collector)
    assert sorted(by_worker) == names
    for name, versions in by_worker.items():
        # monotonic: each worker goes v1 -> v2 -> (v3 refused) -> v1, never back and forth
        assert _runs(versions) == ["swap-v1", "swap-v2", "swap-v1"], (name, _runs(versions))
    assert "swap-v3" not in {v for vs in by_worker.values() for v in vs}
    assert registry.serving().version == "swap-v1"
