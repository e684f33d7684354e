"""Ceiling, drain throughput and idle latency: the batching consumer against one Celery task per job."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from kombu import Producer

from bus.connection import connect
from bus.schemas import RecognizeJob
from bus.topology import (
    JOB_QUEUE_NAME,
    JOBS_EXCHANGE,
    RK_RECOGNIZE,
    UNBATCHED_QUEUE_NAME,
    declare_topology,
    job_delivery_mode,
    unbatched_queue,
)
from foundation.settings import Settings
from inkbus.bench.common import Replies, load_sample, percentiles, validated, wait_for_consumers
from inkbus.bench.procs import Child


def _per_batch(rec, inks: list, bs: int, count: int) -> dict:
    t0 = time.perf_counter()
    render = infer = 0.0
    for i in range(0, count, bs):
        r = rec.recognize(inks[i : i + bs])
        render += r.render_ms
        infer += r.inference_ms
    wall = time.perf_counter() - t0
    return {
        "samples_per_s": round(count / wall, 1),
        "ms_per_sample": round(wall * 1000 / count, 4),
        "render_ms_per_sample": round(render / count, 4),
        "inference_ms_per_sample": round(infer / count, 4),
    }


def ceiling(settings: Settings, n: int = 1024, batches=(1, 16, 64, 256)) -> dict:
    """In-process preprocessing + forward in the serving runtime (``INKBUS_RUNTIME``): the physical limit of this
    machine, per batch size, on all cores.

    Batch 1 is measured again with the workers' thread count (``INKBUS_TORCH_THREADS``): that is the
    in-process latency the live path is compared with.
    """
    import torch

    from ml.serving import open_recognizer

    cores = torch.get_num_threads()
    inks = validated(load_sample(n))
    try:
        rec = open_recognizer(settings, threads=cores)
        out = {str(bs): _per_batch(rec, inks, bs, min(n, max(bs * 8, 128))) for bs in batches}
        best = max(out.values(), key=lambda v: v["samples_per_s"])
        worker_threads = settings.torch_threads or cores
        one = open_recognizer(settings, threads=worker_threads)
        _per_batch(one, inks, 1, 16)  # warm-up
        single = _per_batch(one, inks, 1, min(n, 256))
    finally:
        torch.set_num_threads(cores)
    return {
        "runtime": rec.runtime,
        "by_batch": out,
        "best_samples_per_s": best["samples_per_s"],
        "threads": cores,
        "worker_threads": worker_threads,
        "worker_batch1": single,
    }


def _purge(settings: Settings) -> None:
    conn = connect(settings.broker)
    ch = conn.channel()
    declare_topology(ch, settings.queues)
    unbatched_queue()(ch).declare()
    ch.queue_purge(JOB_QUEUE_NAME)
    ch.queue_purge(UNBATCHED_QUEUE_NAME)
    conn.release()


def _send(settings: Settings, mode: str, jobs: list[RecognizeJob], publisher, celery_app) -> None:
    """Publish without waiting for confirms: the drain measures the workers, not the producer.
    Both designs get the live jobs' delivery mode (``job_persistent``)."""
    if mode == "batched":
        for j in jobs:
            publisher.publish(
                j.model_dump(mode="json"),
                exchange=JOBS_EXCHANGE,
                routing_key=RK_RECOGNIZE,
                delivery_mode=job_delivery_mode(settings.queues),
            )
    else:
        with celery_app.producer_or_acquire() as producer:
            for j in jobs:
                celery_app.send_task(
                    "inkbus.recognize_one",
                    args=[j.model_dump(mode="json")],
                    queue=UNBATCHED_QUEUE_NAME,
                    producer=producer,
                    delivery_mode=job_delivery_mode(settings.queues),
                )


def drain(settings: Settings, mode: str, n_jobs: int, n_latency: int, workdir: Path, pool: str = "solo") -> dict:
    """Queue ``n_jobs`` with the worker running, time their answers; then idle round trips one by one."""
    from workers.celery_app import create_celery

    _purge(settings)
    # The baseline gets its best setting: one torch thread (batch-1 passes gain nothing from a second
    # thread, and its spinning starves the broker and the worker's own event loop on 2 cores).
    env = (
        {}
        if mode == "batched"
        else {"INKBUS_WORKER_BATCHING": "false", "INKBUS_WORKER_POOL": pool, "INKBUS_TORCH_THREADS": "1"}
    )
    env |= {
        "INKBUS_BROKER_URL": settings.broker_url,
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_LOG_LEVEL": "WARNING",
    }
    worker = Child(["worker", "--loglevel", "WARNING"], env, workdir / f"worker-{mode}.log")
    replies = Replies(settings)
    conn = connect(settings.broker)
    publisher = Producer(conn.channel(), serializer="json")
    app = create_celery(settings)
    try:
        wait_for_consumers(settings, JOB_QUEUE_NAME if mode == "batched" else UNBATCHED_QUEUE_NAME)
        rows = load_sample(n_jobs)
        # warm up the worker (TorchScript specialisation, connections)
        warm = [RecognizeJob(ink={"strokes": r["strokes"]}, reply_to=replies.bridge.edge_id) for r in rows[:20]]
        _send(settings, mode, warm, publisher, app)
        replies.wait_for(len(warm), 60)
        jobs = [RecognizeJob(ink={"strokes": r["strokes"]}, reply_to=replies.bridge.edge_id) for r in rows]
        t0 = time.perf_counter()
        _send(settings, mode, jobs, publisher, app)
        t_sent = time.perf_counter()
        done = replies.wait_for(len(warm) + len(jobs), 600)
        arrivals = sorted(replies.arrived[j.job_id] for j in jobs if j.job_id in replies.arrived)
        elapsed = (arrivals[-1] - t0) if arrivals else float("nan")
        sizes = [replies.events[j.job_id]["timings"]["batch_size"] for j in jobs if j.job_id in replies.events]
        latencies = []
        for r in rows[:n_latency]:  # one at a time: the latency of an idle system
            j = RecognizeJob(ink={"strokes": r["strokes"]}, reply_to=replies.bridge.edge_id)
            t = time.perf_counter()
            _send(settings, mode, [j], publisher, app)
            replies.wait_for(len(replies.arrived) + 1, 30)
            latencies.append((replies.arrived.get(j.job_id, float("nan")) - t) * 1000)
        return {
            "mode": mode,
            "jobs": n_jobs,
            "all_answered": done,
            "publish_s": round(t_sent - t0, 3),
            "throughput_per_s": round(len(arrivals) / elapsed, 1),
            "mean_batch": round(float(np.mean(sizes)), 2),
            "idle_latency_ms": percentiles(latencies),
        }
    finally:
        conn.release()
        replies.close()
        worker.stop()
