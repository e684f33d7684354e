"""The reconnect loop every long-running bus consumer shares (workers, feedback engine, bots, sink).

A subclass implements ``serve(conn)``: declare, consume, loop until ``stopping``. When the broker
goes away, ``run`` releases the connection, calls ``on_disconnect`` (drop per-channel state: the
broker redelivers whatever was unacked) and reconnects with backoff from 0.2 s doubling to 3 s.
"""

from __future__ import annotations

import logging
import threading

from bus.connection import connect, ensure_connected
from inkbus.settings import Settings

log = logging.getLogger("inkbus.bus")


def drain(conn, timeout: float) -> None:
    """Wait up to ``timeout`` for broker frames, then send a heartbeat if one is due.

    The heartbeat check runs after every wait, not only after a quiet one: a consumer that never
    acks (an edge's replies) sends nothing while frames keep coming, and the broker closed such a
    connection for missed heartbeats after 20 s of steady load (the benchmark's saturation runs).
    py-amqp's check costs a few microseconds and only writes when an interval has passed.
    """
    try:
        conn.drain_events(timeout=timeout)
    except TimeoutError:
        pass
    conn.heartbeat_check()


def take_ready(conn) -> bool:
    """Process one frame the broker has already sent, without waiting; False when there is none."""
    try:
        conn.drain_events(timeout=0.0001)
        return True
    except TimeoutError:
        return False


class ResilientConsumer:
    name = "consumer"

    def __init__(self, settings: Settings, url: str | None = None):
        self.settings = settings
        self.url = url or settings.broker_url
        self.ready = threading.Event()  # set by serve() once it consumes
        self._stop = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def serve(self, conn) -> None:
        raise NotImplementedError

    def on_disconnect(self, exc: Exception) -> None:
        """Called after the connection broke, before the backoff."""

    def on_release(self) -> None:
        """Called whenever a connection is given up, cleanly or not."""

    def run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            conn = connect(self.settings, self.url)
            try:
                ensure_connected(conn, self.settings)
                backoff = 0.2
                self.serve(conn)
            except Exception as exc:  # connection loss of any kind (or a bug): reconnect with backoff
                if self._stop.is_set():
                    break
                self.ready.clear()
                self.on_disconnect(exc)
                if isinstance(exc, (*conn.connection_errors, *conn.channel_errors, OSError)):
                    log.warning("%s lost the broker (%s); reconnecting in %.1fs", self.name, exc, backoff)
                else:
                    log.exception("%s failed; restarting its consumer in %.1fs", self.name, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 3.0)
            finally:
                self.on_release()
                try:
                    conn.release()
                except Exception:  # the connection is already broken; nothing left to release
                    pass
        self.ready.clear()
