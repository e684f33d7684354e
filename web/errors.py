"""The edge's error handlers and the status of every code; the error body itself is ``foundation/http_errors.py``
(shared with the chat webhooks)."""

from __future__ import annotations

from foundation.http_errors import error_response

# The HTTP status of each code a door answers with; docs/PROTOCOL.md lists them (a unit test checks).
STATUS = {
    "invalid_json": 400,
    "missing_signature": 400,
    "bad_signature": 401,
    "stale_request": 401,
    "replayed_request": 401,
    "not_found": 404,
    "vendor_missing": 404,
    "slack_disabled": 404,
    "discord_disabled": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "internal_error": 500,
    "broker_unavailable": 503,
    "no_workers": 503,
    "store_unavailable": 503,
    "model_unknown": 503,
    "timeout": 504,
}
INK_STATUS = STATUS  # the former name: ink codes not listed here are 422


def status_of(code: str) -> int:
    """Ink and request codes (``invalid_ink``, ``too_deep``, ``invalid_request``, ...) are 422."""
    return STATUS.get(code, 422)


__all__ = ["INK_STATUS", "STATUS", "coded_error", "error_response", "register_error_handlers", "status_of"]


def coded_error(code: str, message: str, **extra):
    """``error_response`` with the status that belongs to ``code``."""
    return error_response(status_of(code), code, message, **extra)


def register_error_handlers(app) -> None:
    @app.errorhandler(404)
    def _not_found(_e):
        return error_response(404, "not_found", "no such endpoint")

    @app.errorhandler(405)
    def _method(e):
        body, status = error_response(405, "method_not_allowed", "this endpoint does not accept that method")
        return body, status, {"Allow": ", ".join(sorted(e.valid_methods or ()))}

    @app.errorhandler(413)
    def _too_large(_e):
        return error_response(413, "payload_too_large", "the request body is larger than the accepted limit")

    @app.errorhandler(500)
    def _internal(_e):
        return error_response(500, "internal_error", "the server failed to handle the request")
