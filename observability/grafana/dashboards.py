"""Grafana dashboards as code (grafanalib): ``python -m observability.grafana.dashboards`` writes the JSON.

The JSON under observability/grafana/dashboards/ is committed so Grafana's file provisioning can load it;
a test regenerates it and checks that it matches, and that every query names a metric the app exports.
"""

from __future__ import annotations

import json
from pathlib import Path

from grafanalib.core import Dashboard, GridPos, Target, Templating, Time, TimeSeries
from grafanalib.influxdb import InfluxDBTarget

from observability.points import FEEDBACK, PREDICTION

OUT = Path(__file__).resolve().parent / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "inkbus-prometheus"}  # uids fixed by provisioning/datasources
INFLUXDB = {"type": "influxdb", "uid": "inkbus-influxdb"}
JOBS_QUEUE = 'queue="inkbus.recognize"'


def _prom(title: str, targets: list[tuple[str, str]], pos: tuple[int, int], unit: str = "", **kw) -> TimeSeries:
    return TimeSeries(
        title=title,
        dataSource=PROMETHEUS,
        targets=[
            Target(expr=expr, legendFormat=legend, refId=chr(65 + i), datasource=PROMETHEUS)
            for i, (expr, legend) in enumerate(targets)
        ],
        gridPos=GridPos(h=8, w=12, x=pos[0], y=pos[1]),
        unit=unit,
        **kw,
    )


def _quantile(q: str) -> tuple[str, str]:
    expr = f"histogram_quantile({q}, sum by (le) (rate(inkbus_penup_to_prediction_seconds_bucket[$__rate_interval])))"
    return expr, f"p{round(float(q) * 100)}"


def _flux(title: str, measurement: str, field: str, agg: str, pos: tuple[int, int], unit: str = "") -> TimeSeries:
    query = (
        'from(bucket: "inkbus") |> range(start: v.timeRangeStart, stop: v.timeRangeStop)'
        f' |> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field}")'
        f" |> aggregateWindow(every: v.windowPeriod, fn: {agg}, createEmpty: false)"
    )
    return TimeSeries(
        title=title,
        dataSource=INFLUXDB,
        targets=[InfluxDBTarget(query=query, refId="A", datasource=INFLUXDB)],
        gridPos=GridPos(h=8, w=12, x=pos[0], y=pos[1]),
        unit=unit,
    )


def overview() -> Dashboard:
    rate = "$__rate_interval"
    panels = [
        _prom(
            "Recognitions/s",
            [(f'sum(rate(inkbus_jobs_total{{outcome="answered"}}[{rate}]))', "answered")],
            (0, 0),
            "reqps",
        ),
        _prom("Pen-up → prediction", [_quantile("0.5"), _quantile("0.95"), _quantile("0.99")], (12, 0), "s"),
        _prom(
            "Queue depth vs workers",
            [
                (f"max(inkbus_queue_messages{{{JOBS_QUEUE}}})", "jobs waiting"),
                (f"max(inkbus_queue_consumers{{{JOBS_QUEUE}}})", "consumers"),
            ],
            (0, 8),
        ),
        _prom(
            "Batch size",
            [
                (f"sum(rate(inkbus_batch_size_sum[{rate}])) / sum(rate(inkbus_batch_size_count[{rate}]))", "mean"),
                (f"histogram_quantile(0.95, sum by (le) (rate(inkbus_batch_size_bucket[{rate}])))", "p95"),
            ],
            (12, 8),
        ),
        _prom(
            "Top-1 confidence",
            [
                (f"histogram_quantile(0.5, sum by (le) (rate(inkbus_prediction_confidence_bucket[{rate}])))", "median"),
                (f"histogram_quantile(0.1, sum by (le) (rate(inkbus_prediction_confidence_bucket[{rate}])))", "p10"),
            ],
            (0, 16),
            "percentunit",
        ),
        _prom(
            "Practice-mode accuracy",
            [
                (
                    f'sum(rate(inkbus_practice_attempts_total{{result="correct"}}[{rate}]))'
                    f" / sum(rate(inkbus_practice_attempts_total[{rate}]))",
                    "correct share",
                )
            ],
            (12, 16),
            "percentunit",
        ),
        _prom(
            "Errors by outcome",
            [(f'sum by (outcome) (rate(inkbus_requests_total{{outcome!="ok"}}[{rate}]))', "{{outcome}}")],
            (0, 24),
            "reqps",
        ),
        _prom(
            "Stage times (per job)",
            [
                (
                    f"histogram_quantile(0.95, sum by (le) (rate(inkbus_queue_wait_seconds_bucket[{rate}])))",
                    "queue p95",
                ),
                (f"histogram_quantile(0.95, sum by (le) (rate(inkbus_render_seconds_bucket[{rate}])))", "render p95"),
                (f"histogram_quantile(0.95, sum by (le) (rate(inkbus_inference_seconds_bucket[{rate}])))", "model p95"),
            ],
            (12, 24),
            "s",
        ),
        _prom("Connected clients", [("sum(inkbus_connected_clients)", "clients")], (0, 32)),
        _prom("Model version", [("max by (version) (inkbus_model_info)", "{{version}}")], (12, 32)),
        _flux("Confidence (InfluxDB, sink)", PREDICTION, "confidence", "mean", (0, 40), "percentunit"),
        _flux("Practice accuracy (InfluxDB, sink)", FEEDBACK, "correct", "mean", (12, 40), "percentunit"),
    ]
    return Dashboard(
        title="Inkbus overview",
        uid="inkbus-overview",
        tags=["inkbus"],
        time=Time("now-1h", "now"),
        refresh="10s",
        timezone="utc",
        templating=Templating(list=[]),
        panels=panels,
    ).auto_panel_ids()


DASHBOARDS = {"inkbus-overview.json": overview}


def render(build) -> str:
    from grafanalib._gen import DashboardEncoder

    return json.dumps(build().to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in DASHBOARDS.items():
        (OUT / name).write_text(render(build))
        print(OUT / name)


if __name__ == "__main__":
    main()
