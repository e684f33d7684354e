"""Exchanges, queues, routing keys, TTLs and dead-lettering: imported by producers and consumers.

Jobs    ``inkbus.jobs`` (direct, durable) --recognize--> ``inkbus.recognize`` (classic, non-durable; or quorum)
        expired or rejected jobs --> ``inkbus.dlx`` (fanout) --> ``inkbus.recognize.dlq`` (quorum)
Events  ``inkbus.events`` (topic, durable), routing keys ``<type>.<reply_to>``:
        ``prediction.<edge>``, ``feedback.<edge>``, ``error.<edge>``.
        ``alert.ops`` (operators' alerts, posted by the bots).
        An edge binds ``*.<its id>``; fan-out consumers (feedback engine, sink, bots) bind ``prediction.*``
        (the feedback engine: ``inkbus.sub.feedback-engine``; the bots: ``inkbus.sub.bots`` on
        ``feedback.*`` and ``alert.*``).
Control ``inkbus.control`` (fanout, transient): what every worker hears: supersede notices, and
        ``model.promoted`` (a new serving model to fetch, verify and switch to between batches).

Queue types: what must not be lost (dead letters, the subscriber queues of the feedback engine, bots and
telemetry sink) is a quorum queue, replicated over a cluster's nodes. Live jobs default to a classic,
non-durable queue: quicker, and on a node's loss the next worker re-declares it on a surviving node
(docs/PROTOCOL.md, "Queue types", has the measurements). Every shared queue is a ``TopologyQueue``: on a
broker that already holds an older declaration of it, the old queue is kept and used (see its docstring).
"""

from __future__ import annotations

import logging
import re

from kombu import Exchange, Queue

from foundation.settings import QueueSettings

log = logging.getLogger("inkbus.bus")

JOBS_EXCHANGE = Exchange("inkbus.jobs", type="direct", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("inkbus.dlx", type="fanout", durable=True)
EVENTS_EXCHANGE = Exchange("inkbus.events", type="topic", durable=True)
CONTROL_EXCHANGE = Exchange("inkbus.control", type="fanout", durable=False)

JOB_QUEUE_NAME = "inkbus.recognize"
DEAD_LETTER_QUEUE_NAME = "inkbus.recognize.dlq"
UNBATCHED_QUEUE_NAME = "inkbus.recognize.unbatched"  # Celery task protocol, one job per task (baseline)

RK_RECOGNIZE = "recognize"
RK_MODEL_PROMOTED = "model.promoted"  # on the control exchange (fanout: the key only names the notice)
NO_REPLY = "none"  # reply_to of jobs nobody waits for (CLI batches, tests of fan-out consumers)
EVENT_TYPES = ("prediction", "feedback", "error", "alert")
FEEDBACK_ENGINE = "feedback-engine"  # subscriber name of the feedback engine(s): competing consumers
BOTS = "bots"  # subscriber name of the chat adapters' bus poster
ALERT_SOURCE = "ops"  # alerts use ``alert.ops``: no edge id, so no edge receives them
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def event_routing_key(event_type: str, reply_to: str | None) -> str:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return f"{event_type}.{reply_to or NO_REPLY}"


def valid_reply_to(value: str) -> bool:
    return bool(_ID.match(value))


def job_delivery_mode(queues: QueueSettings) -> int:
    """AMQP delivery mode of recognition jobs: transient (1) unless ``job_persistent`` (2).

    A persistent job's confirm waits for the broker's fsync, and a slow sync stalled deliveries too
    (docs/PROTOCOL.md, "Delivery rules"); a live job lives seconds and the edge re-sends the ink.
    """
    return 2 if queues.job_persistent else 1


QUORUM = {"x-queue-type": "quorum"}


class TopologyQueue(Queue):
    """A shared queue whose declaration never fails on a broker that holds an older declaration of it.

    RabbitMQ refuses to re-declare a queue with another type or other arguments (406 PRECONDITION_FAILED,
    and the channel is closed). Deployments from before quorum queues hold classic ones under the same
    names, so the declaration is tried on a channel of its own; on a 406 the existing queue is kept and
    used as it is (a warning says so; ``inkbus migrate-queues`` re-creates it once it is empty), and the
    caller's channel, with its prefetch and confirm mode, is never touched.
    """

    def queue_declare(self, nowait=False, passive=False, channel=None):
        chan = channel or self.channel
        conn = getattr(chan, "connection", None)
        if passive or not hasattr(conn, "channel") or not hasattr(chan, "channel_id"):
            return super().queue_declare(nowait=nowait, passive=passive, channel=channel)  # memory transport
        from amqp.exceptions import PreconditionFailed

        probe = conn.channel()
        try:
            return super().queue_declare(passive=False, channel=probe)
        except PreconditionFailed as exc:
            # py-amqp re-opens a channel the broker closed, so the probe can look the old queue up.
            log.warning("queue %s kept as the broker holds it (%s); see `inkbus migrate-queues`", self.name, exc)
            return super().queue_declare(passive=True, channel=probe)
        finally:
            try:
                probe.close()
            except Exception:  # the connection broke meanwhile: the caller's next call reports it
                pass


def job_queue(queue_type: str = "classic") -> Queue:
    """The one job queue every worker consumes: ``INKBUS_JOB_QUEUE_TYPE`` is all that varies."""
    quorum = queue_type == "quorum"
    return TopologyQueue(
        JOB_QUEUE_NAME,
        JOBS_EXCHANGE,
        routing_key=RK_RECOGNIZE,
        durable=quorum,  # a classic job queue is non-durable: it must be re-declarable on another node
        queue_arguments={
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
            "x-queue-type": queue_type,
        },
    )


def dead_letter_queue(queues: QueueSettings) -> Queue:
    return TopologyQueue(
        DEAD_LETTER_QUEUE_NAME,
        DEAD_LETTER_EXCHANGE,
        durable=True,
        queue_arguments={
            **QUORUM,
            "x-message-ttl": queues.dead_letter_ttl_ms,
            "x-max-length": queues.dead_letter_max,
        },
    )


def unbatched_queue() -> Queue:
    # Celery declares this one itself (its own arguments): it stays classic, the baseline it always was.
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


def subscriber_queue(
    name: str, routing_keys: list[str], *, durable: bool = True, queue_arguments: dict | None = None
) -> Queue:
    """A named fan-out subscription to events (feedback engine, telemetry sink, bots): a quorum queue when
    durable (what it holds must survive a node), else a classic one that goes with its last consumer."""
    from kombu import binding

    return TopologyQueue(
        f"inkbus.sub.{name}",
        EVENTS_EXCHANGE,
        durable=durable,
        auto_delete=not durable,
        bindings=[binding(EVENTS_EXCHANGE, routing_key=k) for k in routing_keys],
        queue_arguments={**(QUORUM if durable else {}), **(queue_arguments or {})},
    )


def _bounded(queues: QueueSettings) -> dict:
    # Live feedback is worthless after a minute, and a stopped consumer must not fill the broker's disk.
    return {"x-message-ttl": queues.feedback_queue_ttl_ms, "x-max-length": queues.feedback_queue_max}


def feedback_engine_queue(queues: QueueSettings) -> Queue:
    """Predictions to grade (``prediction.*``) and worker errors to turn into alerts (``error.*``)."""
    return subscriber_queue(FEEDBACK_ENGINE, ["prediction.*", "error.*"], queue_arguments=_bounded(queues))


def bots_queue(queues: QueueSettings) -> Queue:
    """What the chat adapters post into their channels: feedback and alerts."""
    return subscriber_queue(BOTS, ["feedback.*", "alert.*"], queue_arguments=_bounded(queues))


def declare_topology(channel, queues: QueueSettings) -> None:
    """Idempotently declare the durable part of the topology (exchanges, job queue, dead letters)."""
    for ex in (JOBS_EXCHANGE, DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, CONTROL_EXCHANGE):
        ex(channel).declare()
    dead_letter_queue(queues)(channel).declare()
    job_queue(queues.job_queue_type)(channel).declare()


TELEMETRY_SINK = "telemetry"  # subscriber name of the telemetry sink (`inkbus sink`)


def telemetry_queue(queues: QueueSettings) -> Queue:
    """Predictions and feedback for InfluxDB. No TTL (a short sink outage loses nothing); a length cap keeps
    a sink that is gone for good from filling the broker's disk."""
    return subscriber_queue(
        TELEMETRY_SINK, ["prediction.*", "feedback.*"], queue_arguments={"x-max-length": queues.sink_queue_max}
    )
