"""Saturation: offered load raised step by step until the workers' throughput stops rising."""

from __future__ import annotations

import time

from kombu import Producer

from bus.connection import connect
from bus.schemas import JSON_CONTENT, RecognizeJob
from bus.topology import JOBS_EXCHANGE, RK_RECOGNIZE
from foundation.settings import Settings
from inkbus.bench.common import Replies, load_sample
from inkbus.bench.procs import broker_pid, cpu_percent, cpu_snapshot


def _offer(producer, replies: Replies, rows, rate: float, seconds: float) -> dict:
    """Publish open-loop at ``rate`` jobs/s for ``seconds``; count the answers the workers produced in that window.

    Counted by the worker's own stamp (``produced_at``), once this process has read the replies: the load
    generator shares the machine, and when it falls behind, answers it reads late would otherwise count in a
    later window (one step of a run read 4,107 answers/s from two workers that compute about 900)."""
    w0 = time.time()
    t0 = time.perf_counter()
    sent = 0
    while (now := time.perf_counter()) - t0 < seconds:
        due = int((now - t0) * rate)
        # a load generator that cannot keep up stops at the window's end instead of catching up past it
        while sent < due and time.perf_counter() - t0 < seconds:
            row = rows[sent % len(rows)]
            job = RecognizeJob(
                ink={"strokes": row["strokes"]}, reply_to=replies.bridge.edge_id, deadline=time.time() + 10
            )
            # encoded once, as the edge publishes: the load generator's CPU is taken from the workers' machine
            producer.publish(job.model_dump_json(), exchange=JOBS_EXCHANGE, routing_key=RK_RECOGNIZE, **JSON_CONTENT)
            sent += 1
        time.sleep(0.001)
    w1 = time.time()
    _caught_up(replies)
    made = [e for e in list(replies.events.values()) if w0 <= e.get("produced_at", 0.0) < w1]
    answered = sum(1 for e in made if e.get("type") == "prediction")
    # Divided by the window as it ran, not as planned: a publish the broker holds back (flow control under a
    # backlog) stretches it. One run credited two workers with 2,881/s when a load generator that could not
    # keep up published past its window, catching up on jobs due, for about twice as long as planned.
    return {
        "offered_per_s": rate,
        "sent": sent,
        "window_s": round(w1 - w0, 3),
        "throughput_per_s": round(answered / (w1 - w0), 1),  # recognitions: an error answer is not one
        "errors": len(made) - answered,
    }


def _caught_up(replies: Replies, quiet_s: float = 0.3, most_s: float = 10.0) -> None:
    """Wait until no reply has arrived for ``quiet_s`` (at most ``most_s``): the window's answers are read."""
    end = time.monotonic() + most_s
    while time.monotonic() < end:
        n = len(replies.arrived)
        time.sleep(quiet_s)
        if len(replies.arrived) == n:
            return


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
