"""``inkbus run``: edge and workers in one process, on RabbitMQ when reachable, else in-process."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from bus.connection import broker_reachable
from foundation.settings import Settings

log = logging.getLogger("inkbus.run")


def redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def choose_broker(settings: Settings) -> tuple[str, str]:
    """The URL to use and a sentence that says which transport it is and why."""
    if broker_reachable(settings.broker):
        return settings.broker_url, f"RabbitMQ at {redact(settings.broker_url)}"
    return "memory://", (
        f"the in-process transport: RabbitMQ at {redact(settings.broker_url)} is not reachable "
        "(start it or set INKBUS_BROKER_URL for the distributed deployment)"
    )


def offloader(async_mode: str):
    """How a worker running on the edge's event loop keeps the forward pass off that loop."""
    if async_mode == "gevent":
        import gevent

        pool = gevent.get_hub().threadpool
        return lambda fn, *a: pool.apply(fn, a)
    if async_mode == "eventlet":
        from eventlet import tpool

        return tpool.execute
    return None


def _feedback_engine(settings: Settings, store, url: str, offload):
    """The feedback engine on the edge's loop; grading and database writes are offloaded like inference."""
    if store is None:
        log.warning("no progress store: practice is graded but not recorded")
    from tutor.engine import FeedbackEngine

    return FeedbackEngine(settings, store, url=url, offload=offload)


def run_embedded(settings: Settings, workers: int = 1, announce=print) -> None:
    from web.app import create_app
    from web.server import serve
    from workers.batcher import BatchingConsumer, default_worker_name
    from workers.engine import RecognitionEngine
    from workers.swap import start_serving

    url, how = choose_broker(settings)
    offload = offloader(settings.async_mode)
    swapper = start_serving(settings, default_worker_name(), offload)  # the edge's /metrics shows its model too
    recognizer = swapper.current()
    settings = settings.for_device(recognizer.device)  # the consumers' batch limit
    consumers = [
        BatchingConsumer(
            settings, RecognitionEngine(recognizer, default_worker_name(i)), url=url, offload=offload, swapper=swapper
        )
        for i in range(workers)
    ]
    app, socketio = create_app(settings, broker_url=url, local_workers=lambda: sum(c.ready.is_set() for c in consumers))
    for c in consumers:
        socketio.start_background_task(c.run)
    feedback = _feedback_engine(settings, app.extensions["inkbus.store"], url, offload)
    if feedback is not None:
        socketio.start_background_task(feedback.run)
    announce(f"Inkbus {recognizer.version} on {recognizer.device} ({recognizer.runtime}): bus on {how}")
    announce(f"Open http://{settings.host}:{settings.port}/ in your browser (Ctrl-C stops)")
    try:
        serve(app, socketio, settings.host, settings.port)
    finally:
        for c in consumers:
            c.stop()
        if feedback is not None:
            feedback.stop()
        app.extensions["inkbus.bridge"].stop()
