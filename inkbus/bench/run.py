"""Entry point of ``inkbus bench``: every scenario in one run on one machine, a table, JSON and a plot."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from foundation.settings import Settings
from inkbus.bench.drain import ceiling, drain
from inkbus.bench.http_baseline import load_http
from inkbus.bench.live import live, median_run, medians
from inkbus.bench.procs import free_port, start_stack
from inkbus.bench.report import markdown, plot, reference_ms, table
from inkbus.bench.runtime import cost_ratios, runtimes
from inkbus.bench.saturation import saturation


def machine() -> dict:
    import torch

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": _version("onnxruntime"),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "load_avg_at_start": os.getloadavg(),
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


PLANS = {
    # quick: under 3 minutes, for CI smoke runs and a first look
    "quick": {
        "drain_jobs": 300,
        "latency_n": 30,
        "live_n": [20, 100],
        "warmup_s": 2,
        "measure_s": 6,
        "idle": 0,
        "http_clients": [8],
        "http_s": 6,
        "sat_step_s": 3,
        "runtime_samples": 512,
        "runtime_rounds": 4,
        "pairs": 1,
    },
    "full": {
        "drain_jobs": 3000,
        "latency_n": 200,
        "live_n": [50, 200, 1000],
        "warmup_s": 5,
        "measure_s": 30,
        "idle": 2000,
        "http_clients": [8, 32],
        "http_s": 20,
        "sat_step_s": 6,
        "runtime_samples": 4096,
        "runtime_rounds": 8,
        "pairs": 3,
    },
    "tiny": {
        "drain_jobs": 20,
        "latency_n": 5,
        "live_n": [3],
        "warmup_s": 1,
        "measure_s": 2,
        "idle": 0,
        "http_clients": [2],
        "http_s": 2,
        "sat_step_s": 1,
        "runtime_samples": 64,
        "runtime_rounds": 1,
        "pairs": 1,
    },
}


def _http_baseline(settings: Settings, plan: dict, echo) -> list[dict]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "inkbus.bench.http_baseline", str(settings.model_path), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.3)
        out = []
        for clients in plan["http_clients"]:
            echo(f"http baseline: {clients} clients ...")
            out.append(load_http(f"http://127.0.0.1:{port}/recognize", clients, plan["http_s"]))
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _live_and_saturation(settings: Settings, plan: dict, workdir: Path, echo) -> dict:
    """The live runs at every load, many idle connections, streaming without pen-ups and saturation."""
    edge, worker, url = start_stack(settings, workdir)
    try:
        runs = []
        for n in plan["live_n"]:
            echo(f"live path: {n} drawers ...")
            runs.append(live(url, n, warmup_s=plan["warmup_s"], measure_s=plan["measure_s"], edge=edge, worker=worker))
        ref = _reference_load(plan)
        echo(f"live path: {ref} drawers streaming strokes without pen-ups ...")
        streaming = live(
            url, ref, warmup_s=plan["warmup_s"], measure_s=plan["measure_s"], edge=edge, worker=worker, pen_ups=False
        )
        many = None
        if plan["idle"]:
            echo(f"live path: {plan['idle']} idle connections + 20 drawers ...")
            many = live(
                url,
                20,
                warmup_s=plan["warmup_s"] + 5,
                measure_s=plan["measure_s"],
                edge=edge,
                worker=worker,
                idle=plan["idle"],
            )
        echo("saturation: one worker process ...")
        sat = saturation(settings, step_s=plan["sat_step_s"], worker=worker)
    finally:
        edge.stop()
        worker.stop()
    # The in-process ceiling uses every core; so does this: one single-threaded worker per core.
    cores = os.cpu_count() or 1
    if cores > 1:
        edge, workers, _ = start_stack(settings, workdir, workers=cores)
        try:
            echo(f"saturation: {cores} worker processes ...")
            sat["all_cores"] = saturation(settings, step_s=plan["sat_step_s"], worker=workers)
            sat["all_cores"]["workers"] = cores
        finally:
            edge.stop()
            workers.stop()
    return {"live": runs, "many_connections": many, "streaming": streaming, "saturation": sat}


def _reference_load(plan: dict) -> int:
    """The load the targets are stated at: the largest live run of at most 200 drawers."""
    return max((n for n in plan["live_n"] if n <= 200), default=plan["live_n"][0])


def _tree_commit(tree: Path) -> str:
    res = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return res.stdout.strip() or str(tree)


def _baseline(settings: Settings, plan: dict, workdir: Path, tree: Path, broker_url: str | None, echo) -> dict:
    """The live path at the reference load, this tree and another checkout (its own edge, worker and model) in
    turn, ``pairs`` times in one sitting on this machine. The same code's CPU per recognition moved by a third
    between sittings here, so one run of each is too few for a ratio: the ratios are of the medians."""
    n = _reference_load(plan)
    commit = _tree_commit(tree)
    theirs = settings.model_copy(update={"broker_url": broker_url or settings.broker_url, "runtime": "torch"})
    stacks = {"this": start_stack(settings, workdir), "baseline": start_stack(theirs, workdir, tree=tree.resolve())}
    rounds: list[dict] = []
    try:
        for i in range(plan["pairs"]):
            # the order alternates, so neither tree always runs on a machine the other has just warmed
            order = ("this", "baseline") if i % 2 == 0 else ("baseline", "this")
            pair = {}
            for side in order:
                edge, worker, url = stacks[side]
                echo(f"live path: {n} drawers, round {i + 1} of {plan['pairs']}, {_side_name(side, commit)} ...")
                pair[side] = live(
                    url, n, warmup_s=plan["warmup_s"], measure_s=plan["measure_s"], edge=edge, worker=worker
                )
            rounds.append(pair)
    finally:
        for edge, worker, _ in stacks.values():
            edge.stop()
            worker.stop()
    return {"tree": commit, **median_run([p["baseline"] for p in rounds]), "rounds": rounds}


def _side_name(side: str, commit: str) -> str:
    return "this tree" if side == "this" else f"the tree at {commit}"


def _baseline_ratios(base: dict | None) -> dict:
    """This tree against the baseline tree at the reference load: the medians of the rounds run in turn."""
    rounds = (base or {}).get("rounds")
    if not rounds:
        return {}
    mine, theirs = medians([p["this"] for p in rounds]), medians([p["baseline"] for p in rounds])
    if mine is None or theirs is None or not theirs["p99_ms"] or not theirs["server_cpu_ms"]:
        return {}
    return {
        "p99_vs_baseline_tree": round(mine["p99_ms"] / theirs["p99_ms"], 3),
        "server_cpu_vs_baseline_tree": round(mine["server_cpu_ms"] / theirs["server_cpu_ms"], 3),
        "baseline_rounds": len(rounds),
    }


def _ratios(r: dict) -> dict:
    single = reference_ms(r)
    ref = max((x for x in r["live"] if x["drawers"] <= 200), key=lambda x: x["drawers"], default=None)
    # the system's saturated throughput on this machine: the better of one worker and one worker per core
    sat = max(r["saturation"]["saturated_per_s"], r["saturation"].get("all_cores", {}).get("saturated_per_s", 0))
    out = {
        "saturated_vs_ceiling": round(sat / r["ceiling"]["best_samples_per_s"], 3),
        "saturated_vs_unbatched_celery": round(sat / max(r["drain_unbatched"]["throughput_per_s"], 1e-9), 1),
        "batched_vs_unbatched_drain": round(
            r["drain_batched"]["throughput_per_s"] / max(r["drain_unbatched"]["throughput_per_s"], 1e-9), 1
        ),
    }
    if ref and ref["latency_ms"]["p50"] is not None:
        out["reference_drawers"] = ref["drawers"]
        out["bus_overhead_p50_ms"] = round(ref["latency_ms"]["p50"] - single, 2)
        out["bus_overhead_p99_ms"] = round(ref["latency_ms"]["p99"] - single, 2)
        out["pen_up_to_prediction_p99_ms"] = ref["latency_ms"]["p99"]
        cpu = ref.get("cpu_ms_per_recognition", {}).get("server")
        if cpu is not None:
            out["server_cpu_ms_per_recognition"] = cpu
        if ref.get("events_per_recognition") is not None:
            out["events_per_recognition"] = ref["events_per_recognition"]
        out.update(_baseline_ratios(r.get("baseline")))
    if (r.get("streaming") or {}).get("edge_cpu_ms_per_event") is not None:
        out["edge_cpu_ms_per_streamed_event"] = r["streaming"]["edge_cpu_ms_per_event"]
    out.update(cost_ratios(r))
    return out


def run_bench(
    settings: Settings,
    *,
    plan_name: str,
    jobs: int | None,
    out_dir: Path | None,
    echo=print,
    docs: Path | None = None,
    reference: Path | None = None,
    candidate: Path | None = None,
    baseline_tree: Path | None = None,
    baseline_broker_url: str | None = None,
) -> dict:
    plan: dict[str, Any] = dict(PLANS[plan_name])
    if jobs:
        plan["drain_jobs"] = jobs
    r: dict[str, Any] = {
        "machine": machine(),
        "plan": plan_name,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    echo("ceiling: in-process render + forward ...")
    r["ceiling"] = ceiling(settings, n=512 if plan_name != "full" else 2048)
    with tempfile.TemporaryDirectory() as tmp:
        echo("cost per recognition: models and runtimes, one thread ...")
        r["runtime"] = runtimes(
            settings, Path(tmp), plan["runtime_samples"], plan["runtime_rounds"], reference, candidate
        )
        for mode in ("batched", "unbatched"):
            echo(f"drain: {mode} worker, {plan['drain_jobs']} jobs ...")
            r[f"drain_{mode}"] = drain(settings, mode, plan["drain_jobs"], plan["latency_n"], Path(tmp))
        r |= _live_and_saturation(settings, plan, Path(tmp), echo)
        if baseline_tree:
            r["baseline"] = _baseline(settings, plan, Path(tmp), baseline_tree, baseline_broker_url, echo)
    r["http_baseline"] = _http_baseline(settings, plan, echo)
    r["ratios"] = _ratios(r)
    r["seconds"] = round(time.time() - time.mktime(time.strptime(r["started"], "%Y-%m-%dT%H:%M:%SZ")) + time.timezone)
    echo(table(r))
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").write_text(json.dumps(r, indent=2))
        png = plot(r, out_dir / "latency.png")
        echo(f"results in {out_dir}" + (f", plot {png}" if png else ""))
    if docs:
        img = docs.parent / "img" / "bench-latency.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        png = plot(r, img)
        command = f"inkbus bench --{plan_name}" + (f" --jobs {jobs}" if jobs else "")
        command += f" --reference-model {reference}" if reference else ""
        command += f" --candidate-model {candidate}" if candidate else ""
        command += f" --baseline-tree {baseline_tree}" if baseline_tree else ""
        command += f" --docs {docs}"
        docs.write_text(markdown(r, command, f"img/{img.name}" if png else None))
        echo(f"wrote {docs}")
    return r
