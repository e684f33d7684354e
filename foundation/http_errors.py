"""One error body for every HTTP answer: ``{"error": {"code": "...", "message": "..."}}``.

Below both the edge (``web/``) and the chat adapters' webhooks (``chatbots/``), which the edge mounts.
"""

from __future__ import annotations

from flask import jsonify


def error_response(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status
