"""One error body everywhere: ``{"error": {"code": "...", "message": "..."}}``."""

from __future__ import annotations

from flask import jsonify


def error_response(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


# Which HTTP status an ink validation code maps to.
INK_STATUS = {"invalid_json": 400, "payload_too_large": 413}
# An ``error`` event's code as an HTTP status: the bus's own failures are not the client's (422).
EVENT_STATUS = {"broker_unavailable": 503, "timeout": 504, "internal_error": 500}


def register_error_handlers(app) -> None:
    @app.errorhandler(404)
    def _not_found(_e):
        return error_response(404, "not_found", "no such endpoint")

    @app.errorhandler(405)
    def _method(_e):
        return error_response(405, "method_not_allowed", "this endpoint does not accept that method")

    @app.errorhandler(413)
    def _too_large(_e):
        return error_response(413, "payload_too_large", "the request body is larger than the accepted limit")

    @app.errorhandler(500)
    def _internal(_e):
        return error_response(500, "internal_error", "the server failed to handle the request")
