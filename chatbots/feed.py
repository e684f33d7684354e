"""The bots' bus feed: consumes ``feedback.*`` and ``alert.*`` and hands each event to the adapters' posters."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kombu import Consumer

from bus.connection import read_queue_stats
from bus.consumer import ResilientConsumer, dead_letter_on_failure, drain
from bus.topology import JOB_QUEUE_NAME, bots_queue, declare_topology
from foundation.settings import Settings

log = logging.getLogger("inkbus.bots")


def broker_queue_stats(settings: Settings, url: str | None = None) -> Callable[[], tuple[int, int] | None]:
    """(jobs waiting, workers consuming) of the job queue, straight from the broker; None when unreachable."""

    def stats() -> tuple[int, int] | None:
        return read_queue_stats(settings.broker, [JOB_QUEUE_NAME], url)[JOB_QUEUE_NAME]

    return stats


class BusFeed(ResilientConsumer):
    name = "bots feed"

    def __init__(self, settings: Settings, sinks: list[Callable[[dict], None]], *, url: str | None = None):
        super().__init__(settings.broker, url)
        self.settings = settings
        self.sinks = sinks
        self._conn = None  # the connection being served: tells a transport failure from a bad event

    def _on_event(self, body, message) -> None:
        with dead_letter_on_failure(self._conn, [message], "posting an event"):
            for sink in self.sinks:
                try:
                    sink(body)
                except Exception:  # one chat service down must not stop the others, nor wedge the queue
                    log.exception("posting an event to %s failed", getattr(sink, "__name__", type(sink).__name__))
            message.ack()

    def serve(self, conn) -> None:
        self._conn = conn
        ch = conn.channel()
        declare_topology(ch, self.settings.queues)
        with Consumer(ch, [bots_queue(self.settings.queues)], callbacks=[self._on_event], accept=["json"],
                      on_decode_error=lambda m, e: m.reject(requeue=False)):  # fmt: skip
            self.ready.set()
            while not self.stopping:
                drain(conn, 0.5)
