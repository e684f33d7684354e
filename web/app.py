"""App factory of the edge: ``create_app(settings)`` -> (Flask app, SocketIO)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from flask_socketio import SocketIO

from foundation.logs import quiet_library_logger
from foundation.settings import Settings
from web.api import bp as api_bp
from web.apidocs import bp as apidocs_bp
from web.bridge import EdgeBridge
from web.errors import register_error_handlers
from web.identity import init_identity, signing_key
from web.limits import init_limits
from web.model_api import register_model_api
from web.ops import init_ops
from web.pages import bp as pages_bp
from web.socket_guards import guard_packets, refuse_oversize_polls
from web.sockets import register_socket_handlers
from web.tutoring import register_tutoring
from web.wire import SocketJson, speed_up_websockets

log = logging.getLogger("inkbus.edge")


def _open_store(settings: Settings):
    """The progress store, or None: recognition keeps working when the database is down."""
    from tutor.store import open_store

    try:
        return open_store(settings)
    except Exception as exc:  # any driver or migration failure
        log.error("progress store unavailable (%s): chat stats and practice history are off", exc)
        return None


def _chat_core(settings: Settings, bridge: EdgeBridge, store):
    from chatbots.core import ChatCore
    from chatbots.status import LiveStatus

    status = LiveStatus(bridge.job_queue_stats, settings.chat_latency_window)
    return ChatCore(store, status, settings.admins(), link_ttl_s=settings.link_code_ttl_s)


def create_app(
    settings: Settings,
    *,
    broker_url: str | None = None,
    local_workers: Callable[[], int] | None = None,
    start_bridge: bool = True,
    store=None,
) -> tuple[Flask, SocketIO]:
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config["INKBUS"] = settings
    app.config["SECRET_KEY"] = signing_key(settings)
    # Werkzeug refuses larger bodies with 413 before the handler reads them.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    speed_up_websockets()
    socketio = SocketIO(
        app,
        async_mode=settings.async_mode,
        json=SocketJson,
        max_http_buffer_size=settings.max_body_bytes,
        logger=quiet_library_logger("socketio.server"),
        engineio_logger=quiet_library_logger("engineio.server"),
    )
    bridge = EdgeBridge(
        settings,
        url=broker_url,
        spawn=socketio.start_background_task,
        make_event=socketio.server.eio.create_event,
        sleep=socketio.sleep,
        local_workers=local_workers,
    )
    app.extensions["inkbus.bridge"] = bridge
    app.extensions["inkbus.socketio"] = socketio
    app.register_blueprint(api_bp)
    app.register_blueprint(pages_bp)
    init_identity(app, settings)  # the signed learner cookie and /api/v1/me/data
    app.register_blueprint(apidocs_bp)  # /api/docs
    app.extensions["inkbus.sessions"] = sessions = register_socket_handlers(socketio, bridge, settings)
    guard_packets(socketio, sessions)
    refuse_oversize_polls(app, "socket.io", socketio.server.eio.max_http_buffer_size)
    # Tutoring (docs/TUTORING.md): practice checks, feedback to the page, and the chat API.
    store = store if store is not None else _open_store(settings)
    app.extensions["inkbus.store"] = store
    register_tutoring(app, socketio, bridge, sessions, _chat_core(settings, bridge, store))
    register_model_api(app, bridge, settings)  # GET /api/v1/model: what serves (docs/LEARNING_LOOP.md)
    init_ops(app, bridge, app.extensions["inkbus.sessions"], settings)  # /metrics, /ops (docs/OBSERVABILITY.md)
    register_error_handlers(app)
    init_limits(app, settings)  # last: it wraps the registered doors' views
    if start_bridge:
        bridge.start()
    return app, socketio
