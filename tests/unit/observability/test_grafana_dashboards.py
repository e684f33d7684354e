"""The Grafana dashboards: generated from code, committed, and querying only what the app exports."""

from __future__ import annotations

import json
import re

import yaml

from observability.grafana import dashboards
from observability.metrics import NAMES
from observability.points import FIELDS

GRAFANA = dashboards.OUT.parent


def test_committed_json_is_what_the_code_generates():
    for name, build in dashboards.DASHBOARDS.items():
        committed = (dashboards.OUT / name).read_text()
        assert committed == dashboards.render(build), f"run: python -m observability.grafana.dashboards ({name})"


def _panels():
    for name in dashboards.DASHBOARDS:
        yield from json.loads((dashboards.OUT / name).read_text())["panels"]


def test_every_panel_queries_a_metric_the_app_exports():
    titles = set()
    for panel in _panels():
        titles.add(panel["title"])
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            if panel["datasource"]["type"] == "prometheus":
                names = re.findall(r"\binkbus_[a-z_]+", target["expr"])
                assert names, (panel["title"], target["expr"])
                for metric in names:
                    assert re.sub(r"_(total|bucket|sum|count)$", "", metric) in NAMES, (panel["title"], metric)
            else:
                m = re.search(r'_measurement == "(\w+)" and r._field == "(\w+)"', target["query"])
                assert m and m.group(2) in FIELDS[m.group(1)], (panel["title"], target["query"])
    required = {"Recognitions/s", "Pen-up → prediction", "Queue depth vs workers", "Batch size", "Top-1 confidence"}
    assert required | {"Practice-mode accuracy"} <= titles


def test_provisioning_declares_the_data_sources_the_panels_use():
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "inkbus.yml").read_text())["datasources"]
    uids = {d["uid"]: d["type"] for d in ds}
    for panel in _panels():
        assert uids[panel["datasource"]["uid"]] == panel["datasource"]["type"]
    influx = next(d for d in ds if d["type"] == "influxdb")
    assert influx["jsonData"]["version"] == "Flux" and "token" in influx["secureJsonData"]
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "inkbus.yml").read_text())["providers"]
    assert providers[0]["type"] == "file"
