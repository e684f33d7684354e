"""Connections to the bus. ``memory://`` is the in-process transport of the embedded default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu import Connection

from foundation.settings import BrokerSettings


def is_memory(url: str) -> bool:
    return url.startswith("memory://")


def connect(broker: BrokerSettings, url: str | None = None, *, confirm: bool = False) -> Connection:
    """A connection (not yet open). ``url`` may list a cluster's nodes separated by ``;``:
    kombu then fails over between them, in that order, round robin."""
    url = url or broker.url
    if is_memory(url):
        # The virtual transport polls; the default 1 s interval would be the embedded latency floor.
        return Connection(url, transport_options={"polling_interval": 0.001})
    opts = {"confirm_publish": True} if confirm else {}
    return Connection(
        url,
        heartbeat=broker.heartbeat_s,
        connect_timeout=broker.connect_timeout_s,
        transport_options=opts,
    )


def ensure_connected(conn: Connection, broker: BrokerSettings) -> None:
    """Connect, trying every node of a failover URL in turn once (kombu switches without sleeping
    between them), so a process whose node died reaches a surviving one in this very attempt."""
    nodes = max(1, len(conn.alt or ()))
    conn.ensure_connection(max_retries=max(1, nodes - 1), timeout=broker.connect_timeout_s * (nodes + 1))


def broker_reachable(broker: BrokerSettings, url: str | None = None) -> bool:
    conn = connect(broker, url)
    try:
        ensure_connected(conn, broker)
        return True
    except Exception:  # kombu raises transport-specific errors; any of them means "not reachable"
        return False
    finally:
        conn.release()


def set_io_timeout(conn: Connection, seconds: float | None) -> None:
    """Bound every later blocking read or write on an established connection (a stalled broker then
    raises ``socket.timeout`` instead of hanging). py-amqp's own per-call timeouts still apply inside."""
    transport = getattr(conn.connection, "transport", None)  # None on the in-process transport
    sock = getattr(transport, "sock", None)
    if sock is not None:
        sock.settimeout(None if seconds is None else max(seconds, 0.001))


@contextmanager
def corked(conn: Connection) -> Iterator[None]:
    """Frames written inside go out together: at the end of the block, or before anything is read.

    A write to a local socket costs a system call and the kernel's delivery to the broker, per write: a batch of
    64 answers and 64 acks made 128 of them. Any wait for the broker (a declaration's reply, a confirm) sends
    what is held first, so nothing waits on frames still held here; a poll that cannot wait (py-amqp's
    check for a blocked connection before each publish) leaves them held. Only for a connection one thread uses; on
    the in-process transport (no socket) nothing changes. If the write fails, the connection is dead and its
    unacknowledged jobs are redelivered, as for any failure mid-batch.
    """
    transport: Any = getattr(conn.connection, "transport", None)
    write = getattr(transport, "_write", None)
    if write is None:
        yield
        return
    amqp = conn.connection
    drain = amqp.drain_events
    parts: list[bytes] = []

    def flush() -> None:
        if parts:
            data = b"".join(parts)
            parts.clear()
            write(data)

    def drain_events(timeout=None, **kwargs):
        if timeout is None or timeout > 0:
            flush()
        return drain(timeout=timeout, **kwargs)

    # py-amqp's transport writes every frame through this one attribute, from a buffer it reuses: copy each
    transport._write = lambda data: parts.append(bytes(data))
    amqp.drain_events = drain_events
    try:
        yield
    finally:
        transport._write = write
        del amqp.drain_events  # the class's method again
        flush()


def queue_stats(channel, queue_name: str) -> tuple[int, int]:
    """(messages ready, consumers) of a queue, without declaring it."""
    ok = channel.queue_declare(queue=queue_name, passive=True)
    return int(ok.message_count), int(ok.consumer_count)


def read_queue_stats(
    broker: BrokerSettings, names: list[str], url: str | None = None
) -> dict[str, tuple[int, int] | None]:
    """``queue_stats`` of each queue over one short-lived connection: None for a queue that does not exist,
    and for every queue when the broker is unreachable. For callers without a channel of their own (the edge
    asks over its publisher's pooled channels instead: ``JobPublisher.queue_stats``)."""
    found: dict[str, tuple[int, int] | None] = dict.fromkeys(names)
    conn = connect(broker, url)
    try:
        ensure_connected(conn, broker)
        for name in names:
            ch = conn.channel()  # a passive declare of a missing queue closes its channel: one each
            try:
                found[name] = queue_stats(ch, name)
            except Exception:  # the queue does not exist (or the channel broke): nothing to report
                pass
            finally:
                try:
                    ch.close()
                except Exception:  # already closed by the broker
                    pass
    except Exception:  # any transport error means "unreachable"
        pass
    finally:
        conn.release()
    return found
