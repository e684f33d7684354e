"""The bots' bus feed: consumes ``feedback.*`` and ``alert.*`` and hands each event to the adapters' posters."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kombu import Consumer

from bus.connection import connect, queue_stats
from bus.topology import JOB_QUEUE_NAME, bots_queue, declare_topology
from inkbus.settings import Settings

log = logging.getLogger("inkbus.bots")


def broker_queue_stats(settings: Settings, url: str | None = None) -> Callable[[], tuple[int, int] | None]:
    """(jobs waiting, workers consuming) of the job queue, straight from the broker; None when unreachable."""

    def stats() -> tuple[int, int] | None:
        conn = connect(settings, url)
        try:
            conn.ensure_connection(max_retries=1, timeout=settings.broker_connect_timeout_s)
            return queue_stats(conn.default_channel, JOB_QUEUE_NAME)
        except Exception:  # any transport error means "unreachable"
            return None
        finally:
            conn.release()

    return stats


class BusFeed:
    def __init__(self, settings: Settings, sinks: list[Callable[[dict], None]], *, url: str | None = None):
        self.settings, self.sinks = settings, sinks
        self.url = url or settings.broker_url
        self.ready = threading.Event()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _on_event(self, body, message) -> None:
        for sink in self.sinks:
            try:
                sink(body)
            except Exception:  # one chat service down must not stop the others, nor wedge the queue
                log.exception("posting an event to %s failed", getattr(sink, "__name__", type(sink).__name__))
        message.ack()

    def run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            conn = connect(self.settings, self.url)
            try:
                conn.ensure_connection(max_retries=1, timeout=self.settings.broker_connect_timeout_s)
                ch = conn.channel()
                declare_topology(ch, self.settings)
                with Consumer(ch, [bots_queue(self.settings)], callbacks=[self._on_event], accept=["json"],
                              on_decode_error=lambda m, e: m.reject(requeue=False)):  # fmt: skip
                    self.ready.set()
                    backoff = 0.2
                    while not self._stop.is_set():
                        try:
                            conn.drain_events(timeout=0.5)
                        except TimeoutError:
                            pass
            except Exception as exc:  # reconnect with backoff
                self.ready.clear()
                if self._stop.is_set():
                    break
                log.warning("bots lost the broker (%s); reconnecting in %.1fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 3.0)
            finally:
                try:
                    conn.release()
                except Exception:
                    pass
        self.ready.clear()
