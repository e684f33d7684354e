"""HTTP API: recognition through the bus, health, readiness and the OpenAPI document."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from bus.schemas import RecognizeJob
from foundation.safejson import BodyError, load_body, require_json
from web.admission import Refused, admit, publish
from web.errors import coded_error
from web.openapi import openapi_document

bp = Blueprint("api", __name__)
TOP_K_MESSAGE = "top must be an integer from 1 to 62"


def _top_k(obj: dict) -> int:
    """The query's ``top``, else the body's ``top_k``, else the default; a body value is checked either way."""
    k = _checked_k(obj["top_k"]) if "top_k" in obj else current_app.config["INKBUS"].top_k
    raw = request.args.get("top")
    if raw is None:
        return k
    return _checked_k(int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else raw)


def _checked_k(raw) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= 62:  # floats, inf and text refused
        raise Refused("invalid_request", TOP_K_MESSAGE)
    return raw


@bp.post("/api/v1/recognize")
def recognize():
    settings = current_app.config["INKBUS"]
    bridge = current_app.extensions["inkbus.bridge"]
    t0 = time.perf_counter()
    try:
        require_json(request.content_type)
        obj = load_body(request.get_data(cache=False), settings.max_body_bytes)
        if not isinstance(obj, dict):
            raise Refused("invalid_ink", 'ink must be a JSON object {"strokes": [...]}')
        k = _top_k(obj)
        admit(bridge, {"strokes": obj.get("strokes")})
        timeout = settings.request_timeout_s
        job = RecognizeJob(
            ink={"strokes": obj["strokes"]},
            top_k=k,
            reply_to=bridge.edge_id,
            deadline=time.time() + timeout,
            meta={"source": "http"},
        )
        event = publish(bridge, job, wait_s=timeout)
    except (BodyError, Refused) as exc:
        extra = {"job_id": job.job_id} if isinstance(exc, Refused) and exc.code == "timeout" else {}
        return coded_error(exc.code, exc.message, **extra)
    if event.get("type") == "error":
        return coded_error(event.get("code") or "internal_error", event.get("message", ""), job_id=job.job_id)
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
