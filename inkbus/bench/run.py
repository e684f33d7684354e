"""Entry point of ``inkbus bench``: runs the scenarios, prints a table, writes JSON."""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from inkbus.bench.drain import ceiling, drain
from inkbus.settings import Settings


def machine() -> dict:
    import os

    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def run_bench(settings: Settings, *, quick: bool, jobs: int | None, out: Path | None, echo=print) -> dict:
    n_jobs = jobs or (300 if quick else 3000)
    n_lat = 30 if quick else 200
    results = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": quick}
    echo("ceiling: in-process render + forward ...")
    results["ceiling"] = ceiling(settings, n=512 if quick else 2048)
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("batched", "unbatched"):
            echo(f"drain: {mode} worker, {n_jobs} jobs ...")
            results[f"drain_{mode}"] = drain(settings, mode, n_jobs, n_lat, Path(tmp))
    b, u, c = results["drain_batched"], results["drain_unbatched"], results["ceiling"]
    results["ratios"] = {
        "batched_vs_unbatched_throughput": round(b["throughput_per_s"] / u["throughput_per_s"], 2),
        "batched_vs_ceiling_throughput": round(b["throughput_per_s"] / c["best_samples_per_s"], 3),
    }
    echo(table(results))
    if out:
        out.write_text(json.dumps(results, indent=2))
        echo(f"results written to {out}")
    return results


def table(r: dict) -> str:
    lines = ["", "| scenario | samples/s | idle p50 ms | idle p99 ms | mean batch |", "|---|---|---|---|---|"]
    for bs, v in r["ceiling"]["by_batch"].items():
        lines.append(f"| ceiling, batch {bs} (in-process) | {v['samples_per_s']} | {v['ms_per_sample']} | | {bs} |")
    for mode in ("batched", "unbatched"):
        d = r[f"drain_{mode}"]
        lat = d["idle_latency_ms"]
        lines.append(
            f"| worker over RabbitMQ, {mode} | {d['throughput_per_s']} | {lat['p50']} | {lat['p99']} | "
            f"{d['mean_batch']} |"
        )
    lines.append("")
    lines.append(
        f"batched / unbatched throughput: {r['ratios']['batched_vs_unbatched_throughput']}x; "
        f"batched / ceiling: {r['ratios']['batched_vs_ceiling_throughput']:.1%}"
    )
    return "\n".join(lines)
