"""Fault tests on the real RabbitMQ: a worker SIGKILLed mid-batch, and the broker restarted under the API."""

from __future__ import annotations

import time

import requests

from bus.connection import connect, queue_stats
from bus.schemas import RecognizeJob
from bus.topology import JOB_QUEUE_NAME
from producers.publisher import JobPublisher
from tests.helpers import Proc, free_port, http_ok, inkbus_cmd, load_json, sample_ink, wait_until


def _env(settings, **extra):
    return {
        "INKBUS_BROKER_URL": settings.broker_url,
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_LOG_JSON": "true",
        **extra,
    }


def _unacked(settings):
    conn = connect(settings.broker)
    try:
        ready, consumers = queue_stats(conn.channel(), JOB_QUEUE_NAME)
        return ready, consumers
    finally:
        conn.release()


def test_sigkilled_worker_jobs_are_redelivered_and_answered_once(settings, rabbit_url, collector, tmp_path):
    rows = sample_ink()
    jobs = [
        RecognizeJob(ink={"strokes": rows[i % len(rows)]["strokes"]}, reply_to=collector.edge_id) for i in range(600)
    ]
    # Published before the worker starts: a TTL longer than a loaded machine's worker start-up keeps them live.
    pub = JobPublisher(settings.model_copy(update={"job_ttl_ms": 300_000}), rabbit_url)
    for j in jobs:
        pub.publish(j)
    env = _env(settings, INKBUS_BATCH_MAX="32")
    first = Proc(inkbus_cmd("worker"), env, tmp_path / "worker1.log")
    try:
        wait_until(lambda: len(collector.delivered) >= 10, 60, what="the first worker's first answers")
        ready_before, _ = _unacked(settings)
        held = len(jobs) - len(collector.delivered) - ready_before
        first.kill()  # SIGKILL: no clean shutdown
        assert held > 0, "the worker held no unacknowledged jobs when it was killed"
        ready, _ = wait_until(lambda: (s := _unacked(settings)) and s[1] == 0 and s, 10, what="consumer gone")
        assert ready > ready_before - 10  # what it held went back to the queue
        second = Proc(inkbus_cmd("worker"), env, tmp_path / "worker2.log")
        try:
            wait_until(lambda: len(collector.delivered) == len(jobs), 120, what="every job answered")
        finally:
            second.kill()
    finally:
        first.kill()
        pub.close()
    assert set(collector.delivered) == {j.job_id for j in jobs}
    assert all(n == 1 for n in collector.delivered.values())  # the client sees each answer once


def test_api_and_workers_survive_a_broker_restart(settings, rabbit_url, clean_bus, broker_ctl, tmp_path):
    port = free_port()
    env = _env(settings, INKBUS_PORT=str(port), INKBUS_REQUEST_TIMEOUT_S="5", INKBUS_BROKER_CONNECT_TIMEOUT_S="1")
    worker = Proc(inkbus_cmd("worker"), env, tmp_path / "worker.log")
    edge = Proc(inkbus_cmd("edge"), env, tmp_path / "edge.log")
    url = f"http://127.0.0.1:{port}"
    digit = load_json("digit_7.json")
    try:
        wait_until(lambda: http_ok(url + "/readyz"), 60, what="edge ready")
        res = requests.post(url + "/api/v1/recognize", json=digit, timeout=15)
        assert res.status_code == 200 and res.json()["top"][0]["label"] == digit["label"]

        broker_ctl("stop_app")
        try:
            t0 = time.monotonic()
            res = requests.post(url + "/api/v1/recognize", json=digit, timeout=15)
            assert res.status_code == 503 and res.json()["error"]["code"] == "broker_unavailable"
            assert time.monotonic() - t0 < 10  # a clear answer, not a hang
            assert requests.get(url + "/readyz", timeout=15).status_code == 503
        finally:
            broker_ctl("start_app")
        restarted = time.monotonic()

        def serves():
            r = requests.post(url + "/api/v1/recognize", json=digit, timeout=15)
            return r.status_code == 200 and r.json()["top"][0]["label"] == digit["label"]

        wait_until(serves, 30, interval=0.5, what="the API serving again after the broker restart")
        assert time.monotonic() - restarted <= 30
    finally:
        edge.kill()
        worker.kill()
