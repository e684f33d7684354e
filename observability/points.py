"""Bus events -> InfluxDB points (line protocol): what the telemetry sink writes. No I/O here.

Tags are low-cardinality facts (model, worker, label, mode); ids (job, learner) are never tags, so the
series count stays bounded however many drawings there are.
"""

from __future__ import annotations

from influxdb_client import Point, WritePrecision

PREDICTION = "inkbus_prediction"
FEEDBACK = "inkbus_feedback"
# Measurement -> its fields: the Grafana test checks InfluxDB panels against these.
FIELDS = {
    PREDICTION: ("confidence", "queue_ms", "render_ms", "inference_ms", "batch_size", "latency_ms"),
    FEEDBACK: ("confidence", "correct", "streak", "latency_ms"),
}


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def prediction_point(ev: dict) -> Point:
    top = ev["top"][0] if ev.get("top") else {"label": "", "p": 0.0}
    t = ev["timings"]
    meta = ev.get("meta") or {}
    p = (
        Point(PREDICTION)
        .tag("model", ev.get("model", ""))
        .tag("worker", ev.get("worker", ""))
        .tag("label", top["label"])
        .tag("source", str(meta.get("source", "bus")))
        .field("confidence", float(top["p"]))
        .field("queue_ms", float(t["queue_ms"]))
        .field("render_ms", float(t["render_ms"]))
        .field("inference_ms", float(t["inference_ms"]))
        .field("batch_size", int(t["batch_size"]))
    )
    produced = float(ev.get("produced_at") or ev.get("created_at"))
    if ev.get("created_at"):
        p = p.field("latency_ms", round((produced - float(ev["created_at"])) * 1000, 3))
    return p.time(_ns(produced), WritePrecision.NS)


def feedback_point(ev: dict) -> Point:
    p = (
        Point(FEEDBACK)
        .tag("mode", ev.get("mode", ""))
        .tag("predicted", ev.get("predicted", ""))
        .tag("model", ev.get("model", ""))
        .field("confidence", float(ev.get("confidence", 0.0)))
        .field("streak", int(ev.get("streak", 0)))
    )
    if ev.get("target"):
        p = p.tag("target", ev["target"])
    if ev.get("correct") is not None:
        p = p.field("correct", 1 if ev["correct"] else 0)  # 0/1, so mean(correct) is the accuracy
    if ev.get("latency_ms") is not None:
        p = p.field("latency_ms", float(ev["latency_ms"]))
    return p.time(_ns(float(ev["produced_at"])), WritePrecision.NS)


def to_point(ev) -> Point | None:
    """The point of one event, or None for an event the sink does not store (errors, alerts, junk)."""
    if not isinstance(ev, dict):
        return None
    try:
        if ev.get("type") == "prediction":
            return prediction_point(ev)
        if ev.get("type") == "feedback":
            return feedback_point(ev)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return None
