"""``inkbus bench-queues``: what a queue type costs a live recognition job, on the broker at hand.

Each variant gets a throw-away queue. ``paced`` publishes one job-sized message at a time with a
publisher confirm and waits for its delivery (the live path at low load: confirm and hop latency);
``burst`` publishes a backlog with confirms in a pipeline, then drains it with a prefetch like a
worker's (throughput). Figures for docs/PROTOCOL.md's choice of queue type for live jobs.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable

from bus.connection import connect, ensure_connected
from foundation.settings import Settings

VARIANTS = {
    # name: (durable, queue arguments, delivery mode)
    "classic-transient": (True, {"x-queue-type": "classic"}, 1),
    "classic-persistent": (True, {"x-queue-type": "classic"}, 2),
    "quorum": (True, {"x-queue-type": "quorum"}, 2),
}


def _payload() -> bytes:
    # About the size of a pen-up job: a few strokes of a few dozen points each, plus meta.
    strokes = [[[i * 7.5, (i * 13) % 997, i * 16] for i in range(48)] for _ in range(4)]
    return json.dumps({"ink": {"strokes": strokes}, "meta": {"sid": "x" * 20}}).encode()


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def _paced(ch, queue: str, body: bytes, mode: int, n: int) -> dict:
    confirm_ms, hop_ms = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        ch.basic_publish(ch.prepare_message(body, properties={"delivery_mode": mode}), exchange="", routing_key=queue)
        t1 = time.perf_counter()
        msg = None
        while msg is None:
            msg = ch.basic_get(queue)
        ch.basic_ack(msg.delivery_tag)
        t2 = time.perf_counter()
        confirm_ms.append((t1 - t0) * 1000)
        hop_ms.append((t2 - t0) * 1000)
    return {
        "confirm_p50_ms": _pct(confirm_ms, 0.5),
        "confirm_p99_ms": _pct(confirm_ms, 0.99),
        "round_trip_p50_ms": _pct(hop_ms, 0.5),
        "round_trip_p99_ms": _pct(hop_ms, 0.99),
        "round_trip_mean_ms": round(statistics.fmean(hop_ms), 3),
    }


def _burst(conn, ch, queue: str, body: bytes, mode: int, n: int) -> dict:
    t0 = time.perf_counter()
    for _ in range(n):  # confirm per message: the edge's publisher waits for each job's confirm too
        ch.basic_publish(ch.prepare_message(body, properties={"delivery_mode": mode}), exchange="", routing_key=queue)
    t1 = time.perf_counter()
    got = 0

    def on_message(message):
        nonlocal got
        got += 1
        message.channel.basic_ack(message.delivery_tag)

    ch.basic_qos(0, 128, False)
    tag = ch.basic_consume(queue, callback=on_message)
    while got < n:
        conn.drain_events(timeout=30)
    ch.basic_cancel(tag)
    t2 = time.perf_counter()
    return {"publish_per_s": round(n / (t1 - t0)), "drain_per_s": round(n / (t2 - t1))}


def bench_queue_types(settings: Settings, *, paced: int, burst: int, echo: Callable[[str], None]) -> dict:
    body = _payload()
    results: dict[str, dict] = {}
    conn = connect(settings.broker, confirm=True)
    ensure_connected(conn, settings.broker)
    raw = conn.connection  # py-amqp: basic_get and a plain consume, no kombu serialisation in the figures
    try:
        for name, (durable, args, mode) in VARIANTS.items():
            queue = f"inkbus.bench.{name}.{uuid.uuid4().hex[:8]}"
            ch = raw.channel()
            ch.queue_declare(queue, durable=durable, auto_delete=False, arguments=args)
            try:
                _paced(ch, queue, body, mode, min(50, paced))  # warm-up
                row = {**_paced(ch, queue, body, mode, paced), **_burst(raw, ch, queue, body, mode, burst)}
            finally:
                ch.queue_delete(queue)
                ch.close()
            results[name] = row
            echo(f"{name:20s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    finally:
        conn.release()
    return results
