"""The edge's error handlers; the error body itself is ``inkbus/http_errors.py`` (shared with the chat webhooks)."""

from __future__ import annotations

from inkbus.http_errors import error_response

__all__ = ["INK_STATUS", "error_response", "register_error_handlers"]


# Which HTTP status an ink validation code maps to.
INK_STATUS = {"invalid_json": 400, "payload_too_large": 413}


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
