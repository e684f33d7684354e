"""``inkbus migrate-queues``: bring queues declared by an older Inkbus to today's declaration.

RabbitMQ cannot change a queue's type or arguments in place; the queue has to be deleted and declared
again. Until then ``TopologyQueue`` keeps using the old one, so nothing breaks, but a classic queue is
not replicated. This deletes an old queue only when it is empty (``if-empty``, checked by the broker
itself) and declares it anew with its bindings; a queue that holds messages is kept and reported.
Consumers of a re-created queue are cancelled by the broker and re-attach when they reconnect.
"""

from __future__ import annotations

from kombu import Queue

from bus.connection import connect, ensure_connected
from bus.topology import bots_queue, dead_letter_queue, feedback_engine_queue, job_queue, telemetry_queue
from foundation.settings import QueueSettings, Settings


def topology_queues(queues: QueueSettings) -> list[Queue]:
    return [
        dead_letter_queue(queues),
        job_queue(queues.job_queue_type),
        feedback_engine_queue(queues),
        bots_queue(queues),
        telemetry_queue(queues),
    ]


def _declares_cleanly(conn, queue: Queue) -> bool:
    """True if today's declaration is accepted (creating the queue if missing); False on a 406."""
    from amqp.exceptions import PreconditionFailed

    ch = conn.channel()
    try:
        Queue.queue_declare(queue(ch), channel=ch)  # the plain declaration, not TopologyQueue's fallback
        return True
    except PreconditionFailed:
        return False
    finally:
        ch.close()


def _migrate_one(conn, queue: Queue, dry_run: bool) -> str:
    from amqp.exceptions import PreconditionFailed

    if _declares_cleanly(conn, queue):
        queue(conn.default_channel).declare()  # bindings too, for a queue this just created
        return "up to date"
    ch = conn.channel()
    try:
        _, messages, consumers = ch.queue_declare(queue=queue.name, passive=True)
        if dry_run:
            return f"older declaration ({messages} messages, {consumers} consumers)"
        try:
            ch.queue_delete(queue.name, if_empty=True)
        except PreconditionFailed:
            return f"kept: it holds messages ({messages}); drain it and run this again"
    finally:
        ch.close()
    queue(conn.default_channel).declare()
    kind = (getattr(queue, "queue_arguments", None) or {}).get("x-queue-type", "classic")
    return f"re-created ({kind})"


def migrate_queues(settings: Settings, *, dry_run: bool = False) -> list[tuple[str, str]]:
    conn = connect(settings.broker)
    try:
        ensure_connected(conn, settings.broker)
        return [(q.name, _migrate_one(conn, q, dry_run)) for q in topology_queues(settings.queues)]
    finally:
        conn.release()
