"""The OpenAPI 3.1 document of the HTTP API (served at /api/v1/openapi.json, rendered at /api/docs).

Its version is the package's: the Python client (``inkbus/client.py``) carries the same one.
"""

from __future__ import annotations

from foundation.version import __version__
from ml.ink import MAX_ABS_COORD, MAX_POINTS, MAX_STROKES

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Machine-readable error code (see docs/PROTOCOL.md)"},
                "message": {"type": "string", "description": "Explanation for a person"},
            },
        }
    },
}

_COORD = {"type": "number", "minimum": -MAX_ABS_COORD, "maximum": MAX_ABS_COORD}
_POINT = {
    "type": "array",
    "minItems": 2,
    "maxItems": 3,
    "prefixItems": [_COORD, _COORD, {"type": "number"}],  # t is any finite number
    "items": {"type": "number"},
    "description": "[x, y] or [x, y, t]; y grows downward; any unit",
}

_INK = {
    "type": "object",
    "required": ["strokes"],
    "properties": {
        "strokes": {
            "type": "array",
            "minItems": 1,  # no strokes at all is answered 422 empty_ink
            "maxItems": MAX_STROKES,
            "items": {"type": "array", "items": _POINT},
            "description": f"At most {MAX_STROKES} strokes and {MAX_POINTS} points in all",
        },
        "top_k": {"type": "integer", "minimum": 1, "maximum": 62},
    },
}

_LABEL = {
    "type": "object",
    "required": ["label", "p"],
    "properties": {"label": {"type": "string"}, "p": {"type": "number", "minimum": 0, "maximum": 1}},
}

_PREDICTION = {
    "type": "object",
    "required": ["job_id", "top", "model", "timings"],
    "properties": {
        "job_id": {"type": "string"},
        "top": {"type": "array", "items": _LABEL},
        "model": {"type": "string"},
        "timings": {
            "type": "object",
            "properties": {
                k: {"type": "number"} for k in ("queue_ms", "render_ms", "inference_ms", "batch_size", "total_ms")
            },
        },
    },
}


_CHAT_REQUEST = {
    "type": "object",
    "required": ["text"],
    "description": "The caller is the session's learner (the signed `inkbus_id` cookie); other fields are ignored.",
    "properties": {
        "text": {"type": "string", "description": "A chat command, e.g. `help`, `practice A`, `stats`"},
    },
}

_CHAT_REPLY = {
    "type": "object",
    "required": ["reply"],
    "properties": {
        "reply": {
            "type": "object",
            "required": ["title", "text", "fields", "ok", "data"],
            "properties": {
                "title": {"type": "string"},
                "text": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                    },
                },
                "ok": {"type": "boolean", "description": "false: the command failed; `code` says why"},
                "code": {"type": "string"},
                "data": {"type": "object", "description": "For front ends that act on it (a practice target)"},
            },
        }
    },
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict:
    err = {"$ref": "#/components/schemas/Error"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Inkbus API",
            "version": __version__,
            "description": "Handwriting recognition of letters and digits over a message bus.",
        },
        "paths": {
            "/api/v1/recognize": {
                "post": {
                    "summary": "Recognise one character drawn as ink",
                    "parameters": [
                        {
                            "name": "top",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 62},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ink"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Prediction"}, "The most probable labels"),
                        "400": _json(err, "The body is not JSON (invalid_json)"),
                        "413": _json(err, "The body is too large (payload_too_large)"),
                        "415": _json(err, "The body is not application/json (unsupported_media_type)"),
                        "422": _json(
                            err,
                            "Not valid ink: invalid_ink, empty_ink, degenerate_ink, non_finite, "
                            "out_of_range, too_many_strokes, too_many_points, too_deep, invalid_request",
                        ),
                        "429": _json(err, "Too many requests from this client (rate_limited); see Retry-After"),
                        "500": _json(err, "The worker failed on this job (internal_error)"),
                        "503": _json(err, "Broker unreachable (broker_unavailable) or no worker (no_workers)"),
                        "504": _json(err, "No worker answered in time (timeout)"),
                    },
                }
            },
            "/api/v1/me/data": {
                "get": {
                    "summary": "Everything stored about the caller (the session's learner): attempts and corrections",
                    "responses": {
                        "200": _json({"type": "object"}, "The caller's learner id, attempts and corrections"),
                        "429": _json(err, "Too many requests from this client (rate_limited); see Retry-After"),
                        "503": _json(err, "The progress store is unreachable (store_unavailable)"),
                    },
                },
                "delete": {
                    "summary": "Erase everything stored about the caller",
                    "responses": {
                        "200": _json({"type": "object"}, "What was removed"),
                        "429": _json(err, "Too many requests from this client (rate_limited); see Retry-After"),
                        "503": _json(err, "The progress store is unreachable (store_unavailable)"),
                    },
                },
            },
            "/api/v1/model": {
                "get": {
                    "summary": "The serving model: version, classes, evaluation figures, versions that answered lately",
                    "responses": {
                        "200": _json({"type": "object"}, "What serves"),
                        "503": _json(err, "No registry entry and no readable artifact (model_unknown)"),
                    },
                }
            },
            "/api/v1/chat": {
                "post": {
                    "summary": "Run one chat command (the same core as the Slack and Discord bots)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ChatReply"}, "The command's answer"),
                        "400": _json(err, "The body is not JSON (invalid_json)"),
                        "413": _json(err, "The body is too large (payload_too_large)"),
                        "422": _json(err, "No `text` (invalid_request)"),
                        "415": _json(err, "The body is not application/json (unsupported_media_type)"),
                        "429": _json(err, "Too many requests from this client (rate_limited); see Retry-After"),
                    },
                }
            },
            "/healthz": {
                "get": {"summary": "The process is alive", "responses": {"200": _json({"type": "object"}, "Alive")}}
            },
            "/readyz": {
                "get": {
                    "summary": "Broker reachable and at least one worker consuming",
                    "responses": {
                        "200": _json({"type": "object"}, "Ready"),
                        "503": _json({"type": "object"}, "Not ready"),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Ink": _INK,
                "Prediction": _PREDICTION,
                "Error": _ERROR,
                "Label": _LABEL,
                "ChatRequest": _CHAT_REQUEST,
                "ChatReply": _CHAT_REPLY,
            }
        },
    }
