"""The Celery app, configured from ``Settings``: ``celery -A workers.celery_app worker`` or ``inkbus worker``.

The worker hosts the micro-batching job consumer as a bootstep (see workers/batcher.py), and
the Celery pool (solo, threads or prefork; never a green pool) runs ordinary tasks such as the
one-job-per-task baseline the benchmark compares against.
"""

from __future__ import annotations

import logging
import os
import threading

from celery import Celery, bootsteps, signals

from bus.topology import UNBATCHED_QUEUE_NAME, unbatched_queue
from foundation.heap import freeze_startup_heap
from foundation.settings import Settings, get_settings
from observability import metrics
from workers.hub import PromptCallbacks

log = logging.getLogger("inkbus.worker")


class BatchingStep(bootsteps.StartStopStep):
    """Starts ``worker_concurrency`` batching consumers on threads of the worker process."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.consumers: list = []
        self.threads: list[threading.Thread] = []

    def start(self, worker):
        from workers.batcher import BatchingConsumer, default_worker_name
        from workers.engine import RecognitionEngine
        from workers.swap import start_serving

        settings: Settings = worker.app.inkbus_settings
        _start_metrics(settings)
        if not settings.worker_batching:
            log.info("batching consumer disabled (INKBUS_WORKER_BATCHING=false)")
            return
        swapper = start_serving(settings, default_worker_name())
        recognizer = swapper.current()
        settings = settings.for_device(recognizer.device)  # a GPU takes far larger batches than a CPU
        for i in range(settings.worker_concurrency):
            engine = RecognitionEngine(recognizer, default_worker_name(i))
            consumer = BatchingConsumer(settings, engine, swapper=swapper)
            thread = threading.Thread(target=consumer.run, name=f"inkbus-batcher-{i}", daemon=True)
            thread.start()
            self.consumers.append(consumer)
            self.threads.append(thread)
        log.info(
            "started %d batching consumer(s), model %s on %s (%s), batches up to %d",
            len(self.consumers),
            recognizer.version,
            recognizer.device,
            recognizer.runtime,
            settings.batch_max,
        )
        freeze_startup_heap()

    def stop(self, worker):
        for c in self.consumers:
            c.stop()
        for t in self.threads:
            t.join(timeout=10)


def _start_metrics(settings: Settings) -> None:
    if settings.worker_metrics_port:
        if metrics.start_server(settings.worker_metrics_port, settings.metrics_host):
            log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.worker_metrics_port)


@signals.worker_process_shutdown.connect
def _child_exit(pid=None, **_kw):
    # A prefork child's live gauges must not outlive it in PROMETHEUS_MULTIPROC_DIR.
    metrics.process_exit(pid or os.getpid())


# The one Celery app of the project: its tasks (workers/tasks.py) and steps are registered on it, and
# ``create_celery`` configures it. ``celery -A workers.celery_app`` gets it configured from the environment.
app = Celery("inkbus", include=["workers.tasks"])


def create_celery(settings: Settings) -> Celery:
    """Configure the app from ``settings`` (before it first connects: ``inkbus worker``, the benchmark)."""
    app.conf.update(
        broker_url=settings.broker_url,
        accept_content=["json"],
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_queues=(unbatched_queue(),),
        task_default_queue=UNBATCHED_QUEUE_NAME,
        broker_connection_retry_on_startup=True,
        broker_heartbeat=settings.broker_heartbeat_s,
        worker_hijack_root_logger=False,
        worker_pool=settings.worker_pool,
    )
    app.inkbus_settings = settings
    app.steps["worker"].add(BatchingStep)  # a set: configuring again adds nothing
    app.steps["worker"].add(PromptCallbacks)
    return app


create_celery(get_settings())
