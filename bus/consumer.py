"""The reconnect loop every long-running bus consumer shares (workers, feedback engine, bots, sink, the edge's
reply queue).

A subclass implements ``serve(conn)``: declare, consume, loop until ``stopping``. When the broker
goes away, ``run`` releases the connection, calls ``on_disconnect`` (drop per-channel state: the
broker redelivers whatever was unacked) and reconnects with backoff from 0.2 s doubling to 3 s.

A failure that is not the broker's (a message its handler cannot process, or cannot answer) must not
reach that loop: the message would come back on the next channel and fail again, forever. Handlers
run under ``dead_letter_on_failure``, which rejects such messages without requeueing them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from bus.connection import connect, ensure_connected
from foundation.settings import BrokerSettings

log = logging.getLogger("inkbus.bus")


def drain(conn, timeout: float) -> None:
    """Wait up to ``timeout`` for broker frames, then send a heartbeat if one is due.

    The heartbeat check runs after every wait, not only after a quiet one: a consumer that never
    acks (an edge's replies) sends nothing while frames keep coming, and the broker closed such a
    connection for missed heartbeats under steady load (docs/WEB.md, "Heartbeats while busy"). py-amqp's
    check is cheap and only writes when an interval has passed.
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


def is_transport_error(conn, exc: BaseException) -> bool:
    """True when ``exc`` means the broker or the connection failed, not the message being handled."""
    errors = (*conn.connection_errors, *conn.channel_errors) if conn is not None else ()
    return isinstance(exc, (*errors, OSError))


@contextmanager
def dead_letter_on_failure(conn, messages: Iterable, what: str) -> Iterator[None]:
    """Run a handler; if it raises for any reason but the transport, reject (requeue=False) every one of
    ``messages`` it has not settled, so the broker dead-letters or drops them instead of redelivering.
    A transport failure propagates: the reconnect loop runs, and the broker redelivering is then right."""
    try:
        yield
    except Exception as exc:
        if is_transport_error(conn, exc):
            raise
        pending = [m for m in messages if not m.acknowledged]
        log.exception("%s failed; rejecting %d message(s) without requeue", what, len(pending))
        for m in pending:
            m.reject(requeue=False)


class ResilientConsumer:
    name = "consumer"

    def __init__(self, broker: BrokerSettings, url: str | None = None, ready=None):
        self.broker = broker
        self.url = url or broker.url
        self.ready = ready if ready is not None else threading.Event()  # set by serve() once it consumes
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

    def pause(self, seconds: float) -> None:
        """The backoff wait; ends early on ``stop``. A green server may wait its own way."""
        self._stop.wait(seconds)

    def run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            conn = connect(self.broker, self.url)
            try:
                ensure_connected(conn, self.broker)
                backoff = 0.2
                self.serve(conn)
            except Exception as exc:  # connection loss of any kind (or a bug): reconnect with backoff
                if self._stop.is_set():
                    break
                self.ready.clear()
                self.on_disconnect(exc)
                if is_transport_error(conn, exc):
                    log.warning("%s lost the broker (%s); reconnecting in %.1fs", self.name, exc, backoff)
                else:
                    log.exception("%s failed; restarting its consumer in %.1fs", self.name, backoff)
                self.pause(backoff)
                backoff = min(backoff * 2, 3.0)
            finally:
                self.on_release()
                try:
                    conn.release()
                except Exception:  # the connection is already broken; nothing left to release
                    pass
        self.ready.clear()
