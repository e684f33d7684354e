"""Saturation: offered load raised step by step until the workers' throughput stops rising."""

from __future__ import annotations

import time

from kombu import Producer

from bus.connection import connect
from bus.schemas import RecognizeJob
from bus.topology import JOBS_EXCHANGE, RK_RECOGNIZE
from foundation.settings import Settings
from inkbus.bench.common import Replies, load_sample
from inkbus.bench.procs import broker_pid, cpu_percent, cpu_snapshot


def _offer(producer, replies: Replies, rows, rate: float, seconds: float) -> dict:
    """Publish open-loop at ``rate`` jobs/s for ``seconds``; count what is answered in that window."""
    before = len(replies.arrived)
    t0 = time.perf_counter()
    sent = 0
    while (now := time.perf_counter()) - t0 < seconds:
        due = int((now - t0) * rate)
        while sent < due:
            row = rows[sent % len(rows)]
            job = RecognizeJob(
                ink={"strokes": row["strokes"]}, reply_to=replies.bridge.edge_id, deadline=time.time() + 10
            )
            producer.publish(job.model_dump(mode="json"), exchange=JOBS_EXCHANGE, routing_key=RK_RECOGNIZE)
            sent += 1
        time.sleep(0.001)
    answered = len(replies.arrived) - before
    return {"offered_per_s": rate, "sent": sent, "throughput_per_s": round(answered / seconds, 1)}


def saturation(
    settings: Settings,
    *,
    start: float = 100,
    factor: float = 1.6,
    step_s: float = 4.0,
    max_steps: int = 10,
    worker=None,
) -> dict:
    """Needs a running worker. Stops when a step gains under 5 % over the best so far.

    Each step also records where the machine's CPU went (percent of one core), so a plateau can be
    told apart: the worker's own limit, or the machine shared with the broker and the load generator.
    """
    broker = broker_pid()
    rows = load_sample(248)
    replies = Replies(settings)
    conn = connect(settings.broker)
    producer = Producer(conn.channel(), serializer="json")
    steps, best, rate = [], 0.0, start
    try:
        for _ in range(max_steps):
            c0, t0 = cpu_snapshot("load_generator", broker, worker=worker), time.monotonic()
            step = _offer(producer, replies, rows, rate, step_s)
            c1 = cpu_snapshot("load_generator", broker, worker=worker)
            step["cpu_percent"] = cpu_percent(c0, c1, time.monotonic() - t0)
            steps.append(step)
            if step["throughput_per_s"] < best * 1.05:
                break
            best = max(best, step["throughput_per_s"])
            rate *= factor
        time.sleep(1.0)  # let the backlog drain before the next scenario
    finally:
        conn.release()
        replies.close()
    return {"steps": steps, "saturated_per_s": best}
