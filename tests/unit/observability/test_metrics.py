"""Metrics: the batching consumer's outcomes, per-batch observations, the edge's /metrics and /ops state."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bus.schemas import ErrorEvent, Label, PredictionEvent, Timings
from observability import metrics
from observability.window import OpsWindow, percentile
from tests.helpers import sample_ink
from web.app import create_app


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def prediction(p: float = 0.9, batch: int = 4) -> PredictionEvent:
    t = Timings(queue_ms=12.0, render_ms=0.5, inference_ms=1.5, batch_size=batch)
    return PredictionEvent(job_id="j1", top=[Label(label="a", p=p)], model="m1", timings=t, worker="w", created_at=0.0)


def test_job_stats_mirror_outcomes_into_the_jobs_counter():
    before = value("inkbus_jobs_total", outcome="answered"), value("inkbus_worker_reconnects_total")
    stats = metrics.JobStats()
    stats["answered"] += 1
    stats["answered"] += 2
    stats["batches"] += 1  # not a job outcome: not in inkbus_jobs_total
    stats["reconnects"] += 1
    assert stats["answered"] == 3
    assert value("inkbus_jobs_total", outcome="answered") == before[0] + 3
    assert value("inkbus_worker_reconnects_total") == before[1] + 1
    assert value("inkbus_jobs_total", outcome="batches") == 0


def test_observe_batch_records_size_stage_timings_and_confidence():
    count = value("inkbus_batch_size_count")
    conf = value("inkbus_prediction_confidence_count")
    wait_sum = value("inkbus_queue_wait_seconds_sum")
    events = [prediction(0.9), prediction(0.4), ErrorEvent(job_id="x", code="empty_ink", message="m")]
    metrics.observe_batch(events)
    assert value("inkbus_batch_size_count") == count + 1  # one batch
    assert value("inkbus_prediction_confidence_count") == conf + 2
    assert value("inkbus_queue_wait_seconds_sum") == pytest.approx(wait_sum + 0.024)
    metrics.observe_batch([])  # nothing to observe, and no error


def test_each_stage_histogram_is_fed_its_own_timing():
    render, inference = value("inkbus_render_seconds_sum"), value("inkbus_inference_seconds_sum")
    metrics.observe_batch([prediction()])  # render 0.5 ms, inference 1.5 ms
    assert value("inkbus_render_seconds_sum") == pytest.approx(render + 0.0005)
    assert value("inkbus_inference_seconds_sum") == pytest.approx(inference + 0.0015)


def test_queue_collector_skips_unreachable_queues():
    fams = list(metrics.QueueCollector({"a": lambda: (3, 1), "b": lambda: None}).collect())
    depth = {s.labels["queue"]: s.value for s in fams[0].samples}
    assert depth == {"a": 3}


def test_percentiles_and_the_rolling_window():
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    clock = [1000.0]
    w = OpsWindow(clock=lambda: clock[0])
    w.record("socket", "ok", 0.050, 2)
    w.record("http", "ok", 0.010, 4)
    w.record("socket", "broker_unavailable")
    clock[0] += 30
    w.record("socket", "ok", 0.030, 3)
    snap = w.snapshot()
    assert snap["latency_ms"]["p50"] == 30.0 and snap["latency_ms"]["p99"] == 50.0
    assert snap["batch_size"] == {"mean": 3.0, "max": 4}
    assert snap["errors"] == {"count": 1, "by_code": {"broker_unavailable": 1}}
    assert snap["recognitions_per_s"] == 0.1  # only the last one is within the rate window
    clock[0] += 120
    assert w.snapshot()["requests"] == 0


@pytest.fixture(scope="module")
def client(settings, memory_worker):
    app, _ = create_app(settings, broker_url="memory://", local_workers=lambda: int(memory_worker.ready.is_set()))
    yield app.test_client()
    app.extensions["inkbus.bridge"].stop()


def test_edge_metrics_count_http_recognitions_by_outcome(client):
    ok = value("inkbus_requests_total", kind="http", outcome="ok")
    bad = value("inkbus_requests_total", kind="http", outcome="empty_ink")
    row = sample_ink()[0]
    assert client.post("/api/v1/recognize", json={"strokes": row["strokes"]}).status_code == 200
    assert client.post("/api/v1/recognize", json={"strokes": []}).status_code == 422
    res = client.get("/metrics")
    assert res.status_code == 200 and res.mimetype == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(res.get_data(as_text=True))}
    assert {"inkbus_requests", "inkbus_penup_to_prediction_seconds", "inkbus_queue_messages"} <= set(families)
    assert value("inkbus_requests_total", kind="http", outcome="ok") == ok + 1
    assert value("inkbus_requests_total", kind="http", outcome="empty_ink") == bad + 1
    consumers = {s.labels["queue"]: s.value for s in families["inkbus_queue_consumers"].samples}
    assert consumers["inkbus.recognize"] == 1  # the in-process worker


def test_every_exported_family_is_a_documented_name(client):
    text = client.get("/metrics").get_data(as_text=True)
    ours = {f.name for f in text_string_to_metric_families(text) if f.name.startswith("inkbus_")}
    assert ours <= metrics.NAMES


def test_ops_state_and_page(client):
    row = sample_ink()[0]
    client.post("/api/v1/recognize", json={"strokes": row["strokes"]})
    state = client.get("/ops/api/state").get_json()
    assert state["components"]["broker"] == "up" and state["components"]["workers"] == "up"
    assert state["components"]["sink"] == "absent"  # no sink queue on the in-process transport
    assert state["recognitions_per_s"] > 0 and state["latency_ms"]["p50"] > 0
    assert state["model"] and state["batch_size"]["mean"] >= 1
    assert state["queue"] == {"depth": 0, "consumers": 1}
    page = client.get("/ops")
    assert page.status_code == 200 and b"ops.js" in page.data
