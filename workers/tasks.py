"""Ordinary Celery tasks. ``recognize_one`` is the unbatched design (one job, one forward pass)
that the benchmark measures the batching consumer against; it publishes the same events."""

from __future__ import annotations

from functools import lru_cache

from bus.schemas import RecognizeJob
from bus.topology import EVENTS_EXCHANGE, event_routing_key
from workers.celery_app import app


@lru_cache(maxsize=1)
def _engine():
    # Built lazily in the pool process, after any fork.
    from ml.serving import open_recognizer
    from workers.batcher import default_worker_name
    from workers.engine import RecognitionEngine

    s = app.inkbus_settings
    return RecognitionEngine(open_recognizer(s), default_worker_name(0) + "-task")


@app.task(name="inkbus.recognize_one", acks_late=True, reject_on_worker_lost=True)
def recognize_one(job: dict) -> None:
    parsed = RecognizeJob.model_validate(job)
    (event,) = _engine().run([parsed])
    with app.producer_or_acquire() as producer:
        producer.publish(
            event.model_dump(mode="json"),
            exchange=EVENTS_EXCHANGE,
            serializer="json",
            routing_key=event_routing_key(event.type, parsed.reply_to),
            declare=[EVENTS_EXCHANGE],
        )
