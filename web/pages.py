"""The drawing page (``/``) and its npm packages, served from ``node_modules`` (never a CDN, never vendored)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, send_from_directory

from web.errors import error_response
from web.identity import current_learner

bp = Blueprint("pages", __name__)

# URL name -> path inside node_modules. Only these files are served: node_modules is not a web root.
VENDOR_FILES = {
    "socket.io.min.js": "socket.io-client/dist/socket.io.min.js",
    "socket.io.min.js.map": "socket.io-client/dist/socket.io.min.js.map",
}


@bp.get("/")
def index():
    settings = current_app.config["INKBUS"]
    learner = current_learner(renew=True)  # issued on the first visit, so the page's socket and chat carry it
    return render_template(
        "index.html",
        top_k=settings.socket_top_k,
        timeout_s=settings.request_timeout_s,
        learner=learner,
        max_strokes=settings.socket_max_strokes,  # the page reads the server's limits, never its own copy
        max_points_per_message=settings.socket_max_points_per_message,
    )


@bp.get("/vendor/<name>")
def vendor(name: str):
    rel = VENDOR_FILES.get(name)
    root = current_app.config["INKBUS"].node_modules_dir
    if rel is None:
        return error_response(404, "not_found", "no such front-end package file")
    if not (root / rel).is_file():
        return error_response(
            404, "vendor_missing", f"{rel} is not installed: run `make install` (npm ci in web/) first"
        )
    directory, _, filename = (root / rel).as_posix().rpartition("/")
    return send_from_directory(directory, filename, max_age=3600)
