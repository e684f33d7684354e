"""HTTP API: recognition through the bus, health, readiness and the OpenAPI document."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from bus.schemas import RecognizeJob
from ml.ink import InkError, Limits, is_degenerate, parse_ink_json
from producers.publisher import BusUnavailable
from web.bridge import ReplyTimeout
from web.errors import EVENT_STATUS, INK_STATUS, error_response
from web.openapi import openapi_document

bp = Blueprint("api", __name__)


def _top_k(obj: dict) -> int:
    raw = request.args.get("top", obj.get("top_k", current_app.config["INKBUS"].top_k))
    try:
        k = int(raw)
    except (TypeError, ValueError):
        raise InkError("invalid_request", "top must be an integer from 1 to 62") from None
    if isinstance(raw, bool) or not 1 <= k <= 62:
        raise InkError("invalid_request", "top must be an integer from 1 to 62")
    return k


@bp.post("/api/v1/recognize")
def recognize():
    settings = current_app.config["INKBUS"]
    bridge = current_app.extensions["inkbus.bridge"]
    t0 = time.perf_counter()
    try:
        obj, strokes = parse_ink_json(request.get_data(cache=False), Limits(max_bytes=settings.max_body_bytes))
        if is_degenerate(strokes):
            raise InkError("degenerate_ink", "the drawing is a single dot: draw the whole character")
        k = _top_k(obj)
    except InkError as exc:
        return error_response(INK_STATUS.get(exc.code, 422), exc.code, exc.message)
    stats = bridge.job_queue_stats(block=False)
    if stats is None:
        return error_response(503, "broker_unavailable", "the message broker is unreachable; try again shortly")
    if stats[1] == 0:
        return error_response(503, "no_workers", "no recognition worker is running; try again shortly")
    timeout = settings.request_timeout_s
    job = RecognizeJob(
        ink={"strokes": obj["strokes"]},
        top_k=k,
        reply_to=bridge.edge_id,
        deadline=time.time() + timeout,
        meta={"source": "http"},
    )
    try:
        event = bridge.request(job, timeout)
    except BusUnavailable as exc:
        return error_response(503, "broker_unavailable", str(exc))
    except ReplyTimeout as exc:
        return error_response(504, "timeout", str(exc), job_id=job.job_id)
    if event.get("type") == "error":
        code = event.get("code", "invalid_ink")
        return error_response(EVENT_STATUS.get(code, 422), code, event.get("message", ""))
    return jsonify(
        {
            "job_id": job.job_id,
            "top": event["top"],
            "model": event["model"],
            "timings": {**event["timings"], "total_ms": round((time.perf_counter() - t0) * 1000, 3)},
        }
    )


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    bridge = current_app.extensions["inkbus.bridge"]
    stats = bridge.job_queue_stats(max_age_s=0.5)
    body = {
        "broker": stats is not None,
        "replies": bridge.consuming,
        "workers": stats[1] if stats else 0,
        "queued": stats[0] if stats else None,
    }
    ready = body["broker"] and body["replies"] and body["workers"] > 0
    body["status"] = "ready" if ready else "not_ready"
    return jsonify(body), 200 if ready else 503


@bp.get("/api/v1/openapi.json")
def openapi():
    return jsonify(openapi_document())
