"""The real Prometheus scraping a running edge and worker (`inkbus edge`, `inkbus worker` as processes)."""

from __future__ import annotations

import subprocess

import requests
import yaml

from foundation.settings import REPO_ROOT
from tests.external import tool
from tests.helpers import Proc, free_port, http_ok, inkbus_cmd, load_json, wait_until


def _query(base: str, expr: str) -> list:
    res = requests.get(base + "/api/v1/query", params={"query": expr}, timeout=5).json()
    assert res["status"] == "success", res
    return res["data"]["result"]


def _at_least_one(base: str, expr: str) -> bool:
    result = _query(base, expr)
    return bool(result) and float(result[0]["value"][1]) >= 1


def _config(tmp_path, edge: str, worker: str):
    cfg = yaml.safe_load((REPO_ROOT / "observability" / "prometheus" / "prometheus.yml").read_text())
    cfg["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    cfg["rule_files"] = [str(REPO_ROOT / "observability" / "prometheus" / "alerts.yml")]
    targets = {"inkbus-edge": edge, "inkbus-worker": worker}
    cfg["scrape_configs"] = [
        {**job, "static_configs": [{"targets": [targets[job["job_name"]]]}]}
        for job in cfg["scrape_configs"]
        if job["job_name"] in targets
    ]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_prometheus_scrapes_the_edge_and_a_worker_and_sees_a_recognition(settings, rabbit_url, clean_bus, tmp_path):
    exe = tool("prometheus", "Debian's prometheus")
    edge_port, worker_port, prom_port = free_port(), free_port(), free_port()
    env = {
        "INKBUS_BROKER_URL": rabbit_url,
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_PORT": str(edge_port),
        "INKBUS_WORKER_METRICS_PORT": str(worker_port),
    }
    worker = Proc(inkbus_cmd("worker"), env, tmp_path / "worker.log")
    edge = Proc(inkbus_cmd("edge"), env, tmp_path / "edge.log")
    cfg = _config(tmp_path, f"127.0.0.1:{edge_port}", f"127.0.0.1:{worker_port}")
    args = [exe, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
    args += [f"--web.listen-address=127.0.0.1:{prom_port}"]
    prom = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, url = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{edge_port}"
    try:
        wait_until(lambda: http_ok(url + "/readyz"), 90, what="edge ready with a worker")
        digit = load_json("digit_7.json")
        res = requests.post(url + "/api/v1/recognize", json=digit, timeout=15)
        assert res.status_code == 200, res.text
        wait_until(lambda: http_ok(base + "/-/ready"), 30, what="prometheus ready")

        def targets_up():
            active = requests.get(base + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return {t["labels"]["job"]: t["health"] for t in active} == {"inkbus-edge": "up", "inkbus-worker": "up"}

        wait_until(targets_up, 30, interval=0.5, what="both targets up")
        # Each query is retried until it holds: the first scrapes may predate the worker or the request.
        for expr in (
            'sum(inkbus_jobs_total{job="inkbus-worker",outcome="answered"})',
            'sum(inkbus_requests_total{job="inkbus-edge",kind="http",outcome="ok"})',
            'max(inkbus_queue_consumers{job="inkbus-edge",queue="inkbus.recognize"})',
        ):
            wait_until(lambda e=expr: _at_least_one(base, e), 30, interval=0.5, what=expr)
        info = _query(base, "inkbus_model_info")
        assert info and info[0]["metric"]["version"]
    finally:
        prom.terminate()
        prom.wait(15)
        edge.kill()
        worker.kill()
