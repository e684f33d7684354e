"""The benchmark's table (Markdown) and latency-against-load plot."""

from __future__ import annotations

from pathlib import Path


def table(r: dict) -> str:
    rows = ["", "| scenario | throughput /s | p50 ms | p95 ms | p99 ms | notes |", "|---|---|---|---|---|---|"]
    for bs, v in r["ceiling"]["by_batch"].items():
        rows.append(
            f"| ceiling in-process, batch {bs} | {v['samples_per_s']} | {v['ms_per_sample']} | | | "
            f"render {v['render_ms_per_sample']} + forward {v['inference_ms_per_sample']} ms/sample |"
        )
    for mode in ("batched", "unbatched"):
        d = r[f"drain_{mode}"]
        lat = d["idle_latency_ms"]
        label = "batching worker" if mode == "batched" else "Celery, one task per job"
        rows.append(
            f"| drain {d['jobs']} queued jobs: {label} | {d['throughput_per_s']} | {lat['p50']} | "
            f"{lat['p95']} | {lat['p99']} | idle round trip; mean batch {d['mean_batch']} |"
        )
    for x in r["live"] + ([r["many_connections"]] if r.get("many_connections") else []):
        lat = x["latency_ms"]
        idle = f", {x['idle_connected']} idle connections" if x.get("idle_connected") else ""
        rows.append(
            f"| live path, {x['drawers']} drawers{idle} | {x['recognitions_per_s']} | {lat['p50']} | "
            f"{lat['p95']} | {lat['p99']} | errors {x['errors'] or 0}; CPU edge {x['cpu_percent']['edge']}%, "
            f"worker {x['cpu_percent']['worker']}% |"
        )
    rows.append(
        f"| saturation (offered load raised) | {r['saturation']['saturated_per_s']} | | | | "
        f"{len(r['saturation']['steps'])} steps |"
    )
    for h in r["http_baseline"]:
        lat = h["latency_ms"]
        rows.append(
            f"| HTTP POST per recognition, model in the web process, {h['clients']} clients | "
            f"{h['throughput_per_s']} | {lat['p50']} | {lat['p95']} | {lat['p99']} | errors {h['errors']} |"
        )
    rows.append("")
    rows += [f"- {k}: {v}" for k, v in r["ratios"].items()]
    return "\n".join(rows)


def plot(r: dict, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    xs = [x["drawers"] for x in r["live"]]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for q in ("p50", "p95", "p99"):
        ax.plot(xs, [x["latency_ms"][q] for x in r["live"]], marker="o", label=f"live path {q}")
    ax.axhline(r["ceiling"]["by_batch"]["1"]["ms_per_sample"], color="grey", ls="--", label="in-process, batch 1")
    ax.set_xscale("log")
    ax.set_xlabel("simulated drawers (human pace)")
    ax.set_ylabel("pen-up -> prediction (ms)")
    ax.set_title(f"Inkbus live path on {r['machine']['cores']} cores")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
