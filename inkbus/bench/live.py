"""The live path: N simulated drawers over Socket.IO, edge -> RabbitMQ -> worker -> edge -> client.

Each drawer draws real ink at a human pace: a stroke streamed in ~50 ms chunks over ~300 ms, a pen-up,
then ~400 ms until the next stroke. Latency is pen-up -> ``prediction`` with that pen-up's ``seq``,
measured at the client. All drawers run in one asyncio process.

Without pen-ups (``pen_ups=False``) the drawers stream the same chunks at the same pace and clear the page
after each stroke: no job is published, so the edge's CPU divided by the events it took is its cost per
streamed event, the part of a recognition's cost that grows with how long the pen is down.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
from collections import Counter

from inkbus.bench.common import load_sample, percentiles
from inkbus.bench.procs import broker_pid, cpu_percent, cpu_snapshot

CHUNKS = 6  # ~300 ms of drawing at 50 ms per chunk
CHUNK_S = 0.05
GAP_S = 0.4


# Where a prediction's time goes, in path order: ``transport`` is the client's figure less the edge's
# (Socket.IO both ways and waiting in the drawers' event loop), ``edge_in`` the edge's handling before
# the job exists; ``queue``, ``compute``, ``reply`` and ``batch`` come from the edge (``stages_ms``).
STAGES = ("transport", "edge_in", "queue", "compute", "reply", "batch")


class Tally:
    def __init__(self):
        self.latencies: list[float] = []
        self.edge_latencies: list[float] = []  # the edge's own pen-up received -> prediction emitted
        self.stages: dict[str, list[float]] = {k: [] for k in STAGES}
        self.predictions = 0
        self.events = 0  # Socket.IO events the drawers sent while measuring
        self.errors: Counter = Counter()
        self.connected = 0
        self.idle = 0
        self.measuring = False


def _stages(tally: Tally, client_ms: float, data: dict) -> None:
    edge_ms, st = data.get("latency_ms"), data.get("stages_ms")
    if not isinstance(edge_ms, (int, float)) or not isinstance(st, dict):
        return
    tally.stages["transport"].append(client_ms - edge_ms)
    tally.stages["edge_in"].append(max(0.0, edge_ms - st["queue"] - st["compute"] - st["reply"]))
    for k in ("queue", "compute", "reply", "batch"):
        if isinstance(st.get(k), (int, float)):
            tally.stages[k].append(float(st[k]))


async def _drawer(
    url: str, rows: list[dict], stop_at: float, tally: Tally, rng: random.Random, pen_ups: bool = True
) -> None:
    import socketio

    sio = socketio.AsyncClient(reconnection=False)
    pen_up: dict[int, float] = {}
    answered: dict[int, tuple[float, dict]] = {}

    def settle(seq: int) -> None:
        if seq in pen_up and seq in answered:
            at, data = answered.pop(seq)
            ms = (at - pen_up.pop(seq)) * 1000
            if tally.measuring:
                tally.latencies.append(ms)
                tally.predictions += 1
                _stages(tally, ms, data)

    @sio.on("prediction")
    async def _prediction(data):
        answered[data["seq"]] = (time.perf_counter(), data)
        if tally.measuring and isinstance(data.get("latency_ms"), (int, float)):
            tally.edge_latencies.append(float(data["latency_ms"]))
        settle(data["seq"])

    @sio.on("error")
    async def _error(data):
        if tally.measuring:
            tally.errors[data.get("code", "?")] += 1

    await asyncio.sleep(rng.random())  # stagger: real drawers do not start in step
    try:
        await sio.connect(url, transports=["websocket"], wait_timeout=30)
    except Exception:
        tally.errors["connect_failed"] += 1
        return
    tally.connected += 1

    async def event(name: str, payload: dict, ack: bool = False):
        """Send one Socket.IO event (waiting for its ack if asked) and count it while measuring."""
        if tally.measuring:
            tally.events += 1
        if ack:
            return await sio.call(name, payload, timeout=30)
        await sio.emit(name, payload)

    try:
        while time.monotonic() < stop_at:
            row = rng.choice(rows)
            for sid, stroke in enumerate(row["strokes"]):
                sid = sid if pen_ups else 0  # the page is cleared after every stroke
                pts = [[p[0], p[1], i * 8] for i, p in enumerate(stroke)]
                size = max(1, -(-len(pts) // CHUNKS))
                parts = [pts[i : i + size] for i in range(0, len(pts), size)]
                for part in parts[:-1] if pen_ups else parts:
                    await event("stroke", {"id": sid, "points": part, "final": False})
                    await asyncio.sleep(CHUNK_S)
                if not pen_ups:
                    await event("clear", {}, ack=True)
                    await asyncio.sleep(GAP_S)
                    continue
                t0 = time.perf_counter()
                ack = await event("stroke", {"id": sid, "points": parts[-1], "final": True}, ack=True)
                if ack and ack.get("ok"):
                    pen_up[ack["seq"]] = t0
                    settle(ack["seq"])
                await asyncio.sleep(GAP_S)
                if time.monotonic() >= stop_at:
                    break
            await event("clear", {}, ack=True)
    except Exception as exc:  # a dropped connection counts as an error, not a crash of the benchmark
        tally.errors[type(exc).__name__] += 1
    finally:
        await sio.disconnect()


async def _idle(url: str, stop_at: float, tally: Tally, rng: random.Random) -> None:
    """A connected page nobody draws on: it costs the edge a socket and a session."""
    import socketio

    sio = socketio.AsyncClient(reconnection=False)
    await asyncio.sleep(rng.random() * 3)
    try:
        await sio.connect(url, transports=["websocket"], wait_timeout=60)
    except Exception:
        tally.errors["idle_connect_failed"] += 1
        return
    tally.idle += 1
    try:
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    finally:
        await sio.disconnect()


async def _run(
    url: str, n: int, warmup_s: float, measure_s: float, seed: int, idle: int, snap, pen_ups: bool = True
) -> tuple[Tally, float, dict, dict]:
    rows = load_sample(248)
    tally = Tally()
    rng = random.Random(seed)
    stop_at = time.monotonic() + warmup_s + measure_s
    tasks = [asyncio.create_task(_idle(url, stop_at, tally, random.Random(rng.random()))) for _ in range(idle)]
    tasks += [
        asyncio.create_task(_drawer(url, rows, stop_at, tally, random.Random(rng.random()), pen_ups)) for _ in range(n)
    ]
    await asyncio.sleep(warmup_s)
    tally.measuring, cpu0 = True, snap()
    t0 = time.monotonic()
    await asyncio.sleep(measure_s)
    tally.measuring, cpu1 = False, snap()
    elapsed = time.monotonic() - t0
    await asyncio.gather(*tasks, return_exceptions=True)
    return tally, elapsed, cpu0, cpu1


SERVER = ("edge", "worker", "rabbitmq")  # the processes a recognition costs; the drawers are the load generator


def cpu_ms_per_recognition(cpu0: dict, cpu1: dict, recognitions: int) -> dict:
    """CPU milliseconds each server process spent per answered recognition over the same window, and their sum."""
    if recognitions <= 0:
        return {}
    out = {k: round((cpu1[k] - cpu0[k]) * 1000 / recognitions, 3) for k in SERVER if k in cpu0}
    out["server"] = round(sum(out.values()), 3)
    return out


def edge_ms_per_event(cpu0: dict, cpu1: dict, events: int) -> float | None:
    """The edge's CPU milliseconds per Socket.IO event the drawers sent over the same window."""
    if events <= 0 or "edge" not in cpu0:
        return None
    return round((cpu1["edge"] - cpu0["edge"]) * 1000 / events, 4)


def live(
    url: str,
    n: int,
    *,
    warmup_s: float,
    measure_s: float,
    edge=None,
    worker=None,
    seed: int = 0,
    idle: int = 0,
    pen_ups: bool = True,
) -> dict:
    """``n`` active drawers (and ``idle`` connected pages that never draw); without ``pen_ups``, strokes are
    streamed and cleared but never lifted, so nothing is recognised (the edge's cost per event)."""
    broker = broker_pid()

    def snap() -> dict:
        return cpu_snapshot("drawers", broker, edge=edge, worker=worker)

    tally, elapsed, cpu0, cpu1 = asyncio.run(_run(url, n, warmup_s, measure_s, seed, idle, snap, pen_ups))
    return {
        "pen_ups": pen_ups,
        "drawers": n,
        "connected": tally.connected,
        "idle_connected": tally.idle,
        "measure_s": round(elapsed, 2),
        "latency_ms": percentiles(tally.latencies),
        # measured by the edge itself: the rest of the client's figure is Socket.IO transport and the
        # time events wait for CPU in the edge's and the drawers' event loops
        "edge_latency_ms": percentiles(tally.edge_latencies),
        "stages_ms": {k: percentiles(v) for k, v in tally.stages.items()},
        "recognitions_per_s": round(tally.predictions / elapsed, 1),
        "errors": dict(tally.errors),
        # over the measurement window, percent of one core, so "machine" can reach 100 x cores: it shows
        # when the machine itself is the bound
        "cpu_percent": cpu_percent(cpu0, cpu1, elapsed),
        "cpu_ms_per_recognition": cpu_ms_per_recognition(cpu0, cpu1, tally.predictions),
        "events_per_s": round(tally.events / elapsed, 1),
        "events_per_recognition": round(tally.events / tally.predictions, 2) if tally.predictions else None,
        "edge_cpu_ms_per_event": edge_ms_per_event(cpu0, cpu1, tally.events),
    }


def _server_ms(run: dict) -> float | None:
    return (run.get("cpu_ms_per_recognition") or {}).get("server")


def median_run(runs: list[dict]) -> dict:
    """The run whose server CPU per recognition is the median (the lower middle of an even count)."""
    ranked = sorted(runs, key=lambda x: _server_ms(x) or math.inf)
    return ranked[(len(ranked) - 1) // 2]


def medians(runs: list[dict]) -> dict | None:
    """Median server CPU ms per recognition and median p99 of several runs at one load; None if one has neither."""
    cpu = [v for v in (_server_ms(x) for x in runs) if v is not None]
    p99 = [v for v in (x["latency_ms"]["p99"] for x in runs) if v is not None]
    if not runs or len(cpu) < len(runs) or len(p99) < len(runs):
        return None
    return {"server_cpu_ms": statistics.median(cpu), "p99_ms": statistics.median(p99), "runs": len(runs)}
