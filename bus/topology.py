"""Exchanges, queues, routing keys, TTLs and dead-lettering: imported by producers and consumers.

Jobs    ``inkbus.jobs`` (direct, durable) --recognize--> ``inkbus.recognize`` (durable, classic)
        expired or rejected jobs --> ``inkbus.dlx`` (fanout) --> ``inkbus.recognize.dlq``
Events  ``inkbus.events`` (topic, durable), routing keys ``<type>.<reply_to>``:
        ``prediction.<edge>``, ``feedback.<edge>``, ``error.<edge>``; ``telemetry.<kind>``.
        An edge binds ``*.<its id>``; fan-out consumers (feedback engine, sink, bots) bind ``prediction.*``.
Control ``inkbus.control`` (fanout, transient): supersede notices that every worker hears.
"""

from __future__ import annotations

import re

from kombu import Exchange, Queue

from inkbus.settings import Settings

JOBS_EXCHANGE = Exchange("inkbus.jobs", type="direct", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("inkbus.dlx", type="fanout", durable=True)
EVENTS_EXCHANGE = Exchange("inkbus.events", type="topic", durable=True)
CONTROL_EXCHANGE = Exchange("inkbus.control", type="fanout", durable=False)

JOB_QUEUE_NAME = "inkbus.recognize"
DEAD_LETTER_QUEUE_NAME = "inkbus.recognize.dlq"
UNBATCHED_QUEUE_NAME = "inkbus.recognize.unbatched"  # Celery task protocol, one job per task (baseline)

RK_RECOGNIZE = "recognize"
NO_REPLY = "none"  # reply_to of jobs nobody waits for (CLI batches, tests of fan-out consumers)
EVENT_TYPES = ("prediction", "feedback", "error")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def event_routing_key(event_type: str, reply_to: str | None) -> str:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return f"{event_type}.{reply_to or NO_REPLY}"


def valid_reply_to(value: str) -> bool:
    return bool(_ID.match(value))


def job_queue(settings: Settings) -> Queue:
    return Queue(
        JOB_QUEUE_NAME,
        JOBS_EXCHANGE,
        routing_key=RK_RECOGNIZE,
        durable=True,
        queue_arguments={"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name, "x-queue-type": "classic"},
    )


def dead_letter_queue(settings: Settings) -> Queue:
    return Queue(
        DEAD_LETTER_QUEUE_NAME,
        DEAD_LETTER_EXCHANGE,
        durable=True,
        queue_arguments={"x-message-ttl": settings.dead_letter_ttl_ms, "x-max-length": settings.dead_letter_max},
    )


def unbatched_queue() -> Queue:
    return Queue(
        UNBATCHED_QUEUE_NAME,
        Exchange(UNBATCHED_QUEUE_NAME, type="direct", durable=True),
        routing_key=UNBATCHED_QUEUE_NAME,
        durable=True,
    )


def edge_queue(edge_id: str) -> Queue:
    """The private queue of one edge process: its replies only; gone when the edge disconnects."""
    return Queue(
        f"inkbus.edge.{edge_id}",
        EVENTS_EXCHANGE,
        routing_key=f"*.{edge_id}",
        exclusive=True,
        auto_delete=True,
        durable=False,
    )


def control_queue(worker_id: str) -> Queue:
    return Queue(f"inkbus.control.{worker_id}", CONTROL_EXCHANGE, exclusive=True, auto_delete=True, durable=False)


def subscriber_queue(name: str, routing_keys: list[str], *, durable: bool = True) -> Queue:
    """A named fan-out subscription to events (feedback engine, telemetry sink, bots)."""
    from kombu import binding

    return Queue(
        f"inkbus.sub.{name}",
        EVENTS_EXCHANGE,
        durable=durable,
        auto_delete=not durable,
        bindings=[binding(EVENTS_EXCHANGE, routing_key=k) for k in routing_keys],
    )


def declare_topology(channel, settings: Settings) -> None:
    """Idempotently declare the durable part of the topology (exchanges, job queue, dead letters)."""
    for ex in (JOBS_EXCHANGE, DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, CONTROL_EXCHANGE):
        ex(channel).declare()
    dead_letter_queue(settings)(channel).declare()
    job_queue(settings)(channel).declare()
