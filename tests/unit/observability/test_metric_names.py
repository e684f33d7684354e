"""What each metric helper records, under which name and labels: outcomes, batches, the model, queue depth,
multiprocess aggregation and the metrics server."""

from __future__ import annotations

import logging
import re
import socket
import uuid

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Gauge
from prometheus_client.parser import text_string_to_metric_families

from bus.schemas import Label, PredictionEvent, Timings
from observability import metrics


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def prediction(p: float | None = 0.9, batch: int = 4, queue_ms: float = 12.0) -> PredictionEvent:
    t = Timings(queue_ms=queue_ms, render_ms=0.5, inference_ms=1.5, batch_size=batch)
    top = [] if p is None else [Label(label="a", p=p)]
    return PredictionEvent(job_id="j1", top=top, model="m1", timings=t, worker="w", created_at=0.0)


@pytest.mark.parametrize("outcome", sorted(metrics.JOB_OUTCOMES))
def test_every_job_outcome_is_counted_under_its_own_label(outcome):
    before = value("inkbus_jobs_total", outcome=outcome)
    stats = metrics.JobStats()
    stats[outcome] += 2
    assert value("inkbus_jobs_total", outcome=outcome) == before + 2


def test_only_increases_of_an_outcome_are_counted():
    before = value("inkbus_jobs_total", outcome="failed")
    stats = metrics.JobStats()
    stats["failed"] = 5
    stats["failed"] = 5  # unchanged
    stats["failed"] = 3  # a reset or a correction never makes a counter go down
    stats["failed"] = 4
    assert stats["failed"] == 4
    assert value("inkbus_jobs_total", outcome="failed") == before + 6


def test_reconnects_are_counted_and_only_when_they_increase():
    before = value("inkbus_worker_reconnects_total")
    stats = metrics.JobStats()
    stats["reconnects"] += 2
    stats["reconnects"] = 1
    assert value("inkbus_worker_reconnects_total") == before + 2


def test_a_batch_records_the_size_of_its_first_prediction_and_each_confidence_and_wait():
    size_sum, conf_sum = value("inkbus_batch_size_sum"), value("inkbus_prediction_confidence_sum")
    conf_count, wait_count = value("inkbus_prediction_confidence_count"), value("inkbus_queue_wait_seconds_count")
    metrics.observe_batch([prediction(0.9, batch=3), prediction(0.5, batch=3), prediction(None, batch=3)])
    assert value("inkbus_batch_size_sum") == size_sum + 3
    assert value("inkbus_prediction_confidence_sum") == pytest.approx(conf_sum + 1.4)
    assert value("inkbus_prediction_confidence_count") == conf_count + 2  # a prediction without labels: none
    assert value("inkbus_queue_wait_seconds_count") == wait_count + 3


def test_anything_but_a_prediction_is_left_out_of_a_batchs_metrics():
    size_count = value("inkbus_batch_size_count")
    metrics.observe_batch([object(), "not an event"])
    assert value("inkbus_batch_size_count") == size_count
    metrics.observe_batch([object(), prediction(batch=2)])
    assert value("inkbus_batch_size_count") == size_count + 1


def test_queue_wait_is_recorded_in_seconds():
    bucket = value("inkbus_queue_wait_seconds_bucket", le="0.005")
    metrics.observe_batch([prediction(queue_ms=4.0)])
    assert value("inkbus_queue_wait_seconds_bucket", le="0.005") == bucket + 1


def test_the_served_model_is_an_info_metric_with_value_one():
    version = f"inknet-{uuid.uuid4().hex[:8]}"  # the registry is process-wide: a name no other test set
    metrics.set_model(version)
    assert REGISTRY.get_sample_value("inkbus_model_info", {"version": version}) == 1


def test_queue_depth_and_consumers_are_read_per_queue_at_scrape_time():
    reads = []

    def read(name, got):
        def stats():
            reads.append(name)
            return got

        return stats

    collector = metrics.QueueCollector({"inkbus.jobs": read("inkbus.jobs", (7, 2)), "gone": read("gone", None)})
    assert reads == []
    depth, consumers = collector.collect()
    assert (depth.name, consumers.name) == ("inkbus_queue_messages", "inkbus_queue_consumers")
    assert depth.documentation == "Messages ready in a RabbitMQ queue"
    assert consumers.documentation == "Consumers of a RabbitMQ queue"
    assert [(s.labels, s.value) for s in depth.samples] == [({"queue": "inkbus.jobs"}, 7)]
    assert [(s.labels, s.value) for s in consumers.samples] == [({"queue": "inkbus.jobs"}, 2)]
    assert reads == ["inkbus.jobs", "gone"]


def test_the_multiprocess_directory_comes_from_the_environment_and_empty_means_none(monkeypatch, tmp_path):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert metrics.multiprocess_dir() is None
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    assert metrics.multiprocess_dir() is None
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert metrics.multiprocess_dir() == str(tmp_path)


def test_a_single_process_exposes_the_default_registry_plus_extra_ones(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert metrics.registry() is REGISTRY
    extra = CollectorRegistry()
    Gauge("inkbus_test_extra", "An app registry of its own", registry=extra).set(3)
    families = {f.name for f in text_string_to_metric_families(metrics.exposition(extra).decode())}
    assert {"inkbus_jobs", "inkbus_test_extra"} <= families


def write_counter(directory, pid: int, value: float) -> None:
    """What a prefork child leaves behind: its counter in a memory-mapped file of its own."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    d = MmapedDict(str(directory / f"counter_{pid}.db"))
    d.write_value(mmap_key("inkbus_test_mp", "inkbus_test_mp_total", [], [], "A test counter"), value, 0.0)
    d.close()


def test_multiprocess_mode_sums_the_values_every_process_wrote(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    write_counter(tmp_path, 101, 2.0)
    write_counter(tmp_path, 102, 3.0)
    assert metrics.registry().get_sample_value("inkbus_test_mp_total") == 5.0
    assert "inkbus_test_mp_total 5.0" in metrics.exposition().decode()


def test_a_dead_process_loses_its_live_gauges_in_multiprocess_mode_only(monkeypatch, tmp_path):
    live = tmp_path / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics.process_exit(4242)
    assert live.exists()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    metrics.process_exit(4242)
    assert not live.exists()


def test_the_metrics_server_does_not_start_on_a_taken_port_and_says_where(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, "inkbus.metrics"):
            assert metrics.start_server(port, "127.0.0.1") is False
    [record] = caplog.records
    assert record.name == "inkbus.metrics"
    assert re.fullmatch(
        rf"metrics server not started on 127\.0\.0\.1:{port}: .*address already in use", record.getMessage(), re.I
    )


def test_the_metrics_server_serves_the_registry_on_the_given_address(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    started = []
    monkeypatch.setattr(
        "prometheus_client.start_http_server", lambda port, addr, registry: started.append((port, addr, registry))
    )
    assert metrics.start_server(9464, "0.0.0.0") is True
    assert started == [(9464, "0.0.0.0", REGISTRY)]
