"""The Prometheus scrape config and alert rules, checked by promtool; every alert has a firing unit test."""

from __future__ import annotations

import subprocess

import yaml

from foundation.settings import REPO_ROOT
from observability.metrics import NAMES
from tests.external import tool

PROM = REPO_ROOT / "observability" / "prometheus"


def promtool(*args: str) -> str:
    exe = tool("promtool", "Debian's prometheus")
    done = subprocess.run([exe, *args], cwd=PROM, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_config_and_rules_are_valid():
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in promtool("check", "rules", "alerts.yml")


def test_rule_unit_tests_pass():
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def _alerts() -> list[dict]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_every_alert_has_a_firing_test_and_queries_exported_metrics():
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]
    fired = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c["exp_alerts"]}
    names = {r["alert"] for r in _alerts()}
    assert names == fired
    assert {"InkbusLatencyP99High", "InkbusQueueGrowing", "InkbusNoConsumers", "InkbusErrorRateHigh"} <= names
    import re

    for rule in _alerts():
        for metric in re.findall(r"\binkbus_[a-z_]+", rule["expr"]):
            assert re.sub(r"_(total|bucket|sum|count)$", "", metric) in NAMES, (rule["alert"], metric)
