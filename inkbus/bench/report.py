"""The benchmark's table (Markdown) and latency-against-load plot."""

from __future__ import annotations

from pathlib import Path

from inkbus.bench.live import medians
from inkbus.bench.runtime import runtime_rows


def reference_ms(r: dict) -> float:
    """In-process batch-1 latency at the workers' thread count: what the live path is compared with."""
    return r["ceiling"]["worker_batch1"]["ms_per_sample"]


def _saturation_row(label: str, sat: dict) -> str:
    top: dict = max(sat["steps"], key=lambda x: x["throughput_per_s"], default={})
    cpu = top.get("cpu_percent")
    where = (
        f"; at the best step CPU worker(s) {cpu['worker']}%, RabbitMQ {cpu['rabbitmq']}%, load generator "
        f"{cpu['load_generator']}%, machine {cpu['machine']}%"
        if cpu
        else ""
    )
    errors = f"; error answers {top['errors']}" if top.get("errors") else ""
    return f"| {label} | {sat['saturated_per_s']} | | | | {len(sat['steps'])} steps{where}{errors} |"


def _cpu_part(cpu: dict) -> str:
    """A live run's CPU by process, in percent of one core."""
    return (
        f"CPU edge {cpu['edge']}%, worker {cpu['worker']}%, drawers {cpu.get('drawers', '?')}%, "
        f"RabbitMQ {cpu.get('rabbitmq', '?')}%, machine {cpu.get('machine', '?')}%"
    )


def _streaming_row(x: dict) -> str:
    return (
        f"| strokes streamed without pen-ups, {x['drawers']} drawers | {x['events_per_s']} events | | | | "
        f"errors {x['errors'] or 0}; edge CPU {x['edge_cpu_ms_per_event']} ms per event; "
        f"{_cpu_part(x['cpu_percent'])} |"
    )


def _edge_part(x: dict) -> str:
    e = x.get("edge_latency_ms") or {}
    return f" at the edge p50 {e['p50']} / p99 {e['p99']} ms;" if e.get("p50") is not None else ""


def table(r: dict) -> str:
    rows = ["", "| scenario | throughput /s | p50 ms | p95 ms | p99 ms | notes |", "|---|---|---|---|---|---|"]
    c = r["ceiling"]
    threads = f", {c['threads']} threads" if "threads" in c else ""
    threads += f", {c['runtime']}" if "runtime" in c else ""
    for bs, v in c["by_batch"].items():
        rows.append(
            f"| ceiling in-process, batch {bs}{threads} | {v['samples_per_s']} | {v['ms_per_sample']} | | | "
            f"preprocess {v['render_ms_per_sample']} + forward {v['inference_ms_per_sample']} ms/sample |"
        )
    rows += runtime_rows(r)
    if "worker_batch1" in c:
        v = c["worker_batch1"]
        rows.append(
            f"| ceiling in-process, batch 1, {c['worker_threads']} thread(s) as the workers run | "
            f"{v['samples_per_s']} | {v['ms_per_sample']} | | | preprocess {v['render_ms_per_sample']} + forward "
            f"{v['inference_ms_per_sample']} ms/sample; the live path's reference |"
        )
    for mode in ("batched", "unbatched"):
        d = r[f"drain_{mode}"]
        lat = d["idle_latency_ms"]
        label = "batching worker" if mode == "batched" else "Celery, one task per job"
        rows.append(
            f"| drain {d['jobs']} queued jobs: {label} | {d['throughput_per_s']} | {lat['p50']} | "
            f"{lat['p95']} | {lat['p99']} | idle round trip; mean batch {d['mean_batch']} |"
        )
    extra = [r["many_connections"]] if r.get("many_connections") else []
    extra += [r["baseline"]] if r.get("baseline") else []
    for x in r["live"] + extra:
        lat = x["latency_ms"]
        idle = f", {x['idle_connected']} idle connections" if x.get("idle_connected") else ""
        idle += f", the tree at {x['tree']} (baseline{_median_note(x)})" if x.get("tree") else ""
        rows.append(
            f"| live path, {x['drawers']} drawers{idle} | {x['recognitions_per_s']} | {lat['p50']} | "
            f"{lat['p95']} | {lat['p99']} | errors {x['errors'] or 0};{_edge_part(x)} {_cpu_part(x['cpu_percent'])} |"
        )
    if r.get("streaming"):
        rows.append(_streaming_row(r["streaming"]))
    sat = r["saturation"]
    rows.append(_saturation_row("saturation (offered load raised), one worker process", sat))
    if sat.get("all_cores"):
        every = sat["all_cores"]
        rows.append(_saturation_row(f"saturation, {every['workers']} worker processes (one per core)", every))
    for h in r["http_baseline"]:
        lat = h["latency_ms"]
        rows.append(
            f"| HTTP POST per recognition, model in the web process, {h['clients']} clients | "
            f"{h['throughput_per_s']} | {lat['p50']} | {lat['p95']} | {lat['p99']} | errors {h['errors']} |"
        )
    rows += stage_rows(r)
    rows += cpu_rows(r)
    rows += paired_rows(r)
    rows.append("")
    rows += [f"- {k}: {v}" for k, v in r["ratios"].items()]
    return "\n".join(rows)


STAGE_NAMES = {
    "transport": "Socket.IO both ways + drawers' loop",
    "edge_in": "edge, before the job",
    "queue": "publish + broker + wait for the batch ahead",
    "compute": "render + inference (its batch)",
    "reply": "event -> edge -> emit",
    "batch": "batch size (jobs)",
}


def stage_rows(r: dict) -> list[str]:
    """Where pen-up -> prediction went, per load: p50 / p99 of each stage (from the edge's ``stages_ms``)."""
    runs = [x for x in r["live"] if (x.get("stages_ms") or {}).get("queue", {}).get("n")]
    if not runs:
        return []
    head = "| stage, p50 / p99 ms | " + " | ".join(f"{x['drawers']} drawers" for x in runs) + " |"
    rows = ["", head, "|---|" + "---|" * len(runs)]
    for key, name in STAGE_NAMES.items():
        cells = [f"{x['stages_ms'][key]['p50']} / {x['stages_ms'][key]['p99']}" for x in runs]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def cpu_rows(r: dict) -> list[str]:
    """CPU milliseconds per answered recognition, per server process and in all, at every load."""
    runs = [x for x in r["live"] if x.get("cpu_ms_per_recognition")]
    if r.get("baseline", {}).get("cpu_ms_per_recognition"):
        runs.append(r["baseline"])
    if not runs:
        return []
    names = [f"{x['drawers']} drawers" + (f", tree {x['tree']}" if x.get("tree") else "") for x in runs]
    rows = ["", "| CPU ms per recognition | " + " | ".join(names) + " |", "|---|" + "---|" * len(runs)]
    for key, name in (("edge", "edge"), ("worker", "worker"), ("rabbitmq", "RabbitMQ"), ("server", "all three")):
        rows.append(f"| {name} | " + " | ".join(str(x["cpu_ms_per_recognition"].get(key, "")) for x in runs) + " |")
    if any(x.get("events_per_recognition") for x in runs):  # results from before the drawers counted events lack it
        events = " | ".join(str(x.get("events_per_recognition") or "") for x in runs)
        rows.append(f"| events sent per recognition | {events} |")
    streamed = (r.get("streaming") or {}).get("edge_cpu_ms_per_event")
    if streamed is not None:
        rows += [
            "",
            f"The edge's CPU per streamed event (strokes streamed and cleared without a pen-up, "
            f"{r['streaming']['drawers']} drawers): {streamed} ms.",
        ]
    return rows


def _median_note(run: dict) -> str:
    return f", the median of {len(run['rounds'])} rounds by CPU" if len(run.get("rounds") or ()) > 1 else ""


def _pair_cells(this: dict, base: dict) -> str:
    def cell(x: dict) -> str:
        return f"{x['cpu_ms_per_recognition'].get('server', '?')} / {x['latency_ms']['p99']}"

    def ratio(a, b) -> str:
        return f"{a / b:.3f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""

    cpu = ratio(this["cpu_ms_per_recognition"].get("server"), base["cpu_ms_per_recognition"].get("server"))
    return f"{cell(this)} | {cell(base)} | {cpu} | {ratio(this['latency_ms']['p99'], base['latency_ms']['p99'])}"


def paired_rows(r: dict) -> list[str]:
    """This tree and the baseline tree in turn at the reference load: each round, then the medians the ratios use."""
    base = r.get("baseline") or {}
    rounds = base.get("rounds")
    if not rounds:
        return []
    n, tree = base["drawers"], base["tree"]
    rows = [
        "",
        f"| {n} drawers, in turn | this tree: CPU ms / p99 ms | tree {tree}: CPU ms / p99 ms | CPU ratio | p99 ratio |",
        "|---|---|---|---|---|",
    ]
    rows += [f"| round {i} | {_pair_cells(p['this'], p['baseline'])} |" for i, p in enumerate(rounds, 1)]
    mine, theirs = medians([p["this"] for p in rounds]), medians([p["baseline"] for p in rounds])
    if mine and theirs:
        rows.append(
            f"| median | {mine['server_cpu_ms']} / {mine['p99_ms']} | {theirs['server_cpu_ms']} / {theirs['p99_ms']} | "
            f"{r['ratios'].get('server_cpu_vs_baseline_tree', '')} | {r['ratios'].get('p99_vs_baseline_tree', '')} |"
        )
    return rows


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
    ax.axhline(reference_ms(r), color="grey", ls="--", label="in-process, batch 1")
    ax.set_xscale("log")
    ax.set_yscale("log")  # light and saturated loads differ by 100x: both stay readable
    ax.set_xlabel("simulated drawers (human pace)")
    ax.set_ylabel("pen-up -> prediction (ms)")
    ax.set_title(f"Inkbus live path on {r['machine']['cores']} cores")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


TARGETS = (
    # (name, ratio key, comparison, threshold, unit)
    ("bus overhead over in-process, p50 at N = 200", "bus_overhead_p50_ms", "<=", 5.0, "ms"),
    ("bus overhead over in-process, p99 at N = 200", "bus_overhead_p99_ms", "<=", 15.0, "ms"),
    ("pen-up -> prediction p99 at N = 200", "pen_up_to_prediction_p99_ms", "<=", 40.0, "ms"),
    ("saturated throughput / in-process batched ceiling", "saturated_vs_ceiling", ">=", 0.5, ""),
    ("saturated throughput / unbatched Celery baseline", "saturated_vs_unbatched_celery", ">=", 5.0, "x"),
    (
        "recognition cost (preprocess + forward, 1 thread) / reference model's, batch 1",
        "cost_vs_reference_batch1",
        "<=",
        0.333,
        "x",
    ),
    (
        "recognition cost (preprocess + forward, 1 thread) / reference model's, batch 64",
        "cost_vs_reference_batch64",
        "<=",
        0.333,
        "x",
    ),
    ("server CPU per recognition at N = 200 / the baseline tree's", "server_cpu_vs_baseline_tree", "<=", 0.45, "x"),
    ("pen-up -> prediction p99 at N = 200 / the baseline tree's", "p99_vs_baseline_tree", "<=", 0.25, "x"),
)
BACKLOG_S = 0.15  # KEDA target: the backlog one worker clears in this long keeps queue wait under the p99 goal


def target_rows(r: dict) -> list[str]:
    rows = ["| target | measured | goal | met |", "|---|---|---|---|"]
    for name, key, op, goal, unit in TARGETS:
        v = r["ratios"].get(key)
        met = v is not None and (v <= goal if op == "<=" else v >= goal)
        rows.append(f"| {name} | {v}{unit if v is not None else ''} | {op} {goal}{unit} | {'yes' if met else 'no'} |")
    many = r.get("many_connections")
    if many:
        ok = many["idle_connected"] >= 2000 and many["latency_ms"]["n"] > 0 and not many["errors"]
        rows.append(
            f"| one edge holds 2,000 connected drawers, active ones answered | {many['idle_connected']} idle + "
            f"{many['connected']} active, p99 {many['latency_ms']['p99']} ms | 2,000 | {'yes' if ok else 'no'} |"
        )
    return rows


def capacity_note(r: dict) -> str:
    per_worker = r["saturation"]["saturated_per_s"]
    target = max(1, round(per_worker * BACKLOG_S))
    return (
        f"One worker process (this machine, 2 cores) saturates at **{per_worker} recognitions/s**. KEDA's "
        f"RabbitMQ trigger (mode QueueLength, protocol http so unacknowledged jobs count) therefore uses "
        f"**{target} jobs per replica**: the backlog one worker clears in {int(BACKLOG_S * 1000)} ms, so a "
        f"queue at target adds at most that much wait before the p99 goal is at risk."
    )


def gpu_line(m: dict) -> str:
    """Whether this run could measure a GPU: the worker's cuda path (INKBUS_DEVICE) has figures only if so."""
    if m.get("gpu"):
        return f"GPU: {m['gpu']}."
    return "GPU: none on this machine, so no GPU figures; CPU is the measured and tested path."


def markdown(r: dict, command: str, plot_name: str | None) -> str:
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `{command}` on {r['started']} in one run: every figure below comes from the same run on the "
        "same machine, baselines included.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m['torch']}; {m['platform']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}.",
        f"- {gpu_line(m)}",
        f"- Serving runtime (`INKBUS_RUNTIME`) of the workers and the in-process ceiling: "
        f"{r['ceiling'].get('runtime', 'torch')}; onnxruntime {m.get('onnxruntime', '?')}.",
        "- Broker: RabbitMQ on the same machine; edge (`inkbus edge`, gevent) and one worker (`inkbus worker`, solo "
        "pool) as separate processes; simulated drawers in one asyncio process (python-socketio), at human pace: a "
        "stroke streamed in 50 ms chunks over ~300 ms, then ~400 ms to the next stroke.",
        "",
        "## Results",
        table(r),
        "",
        "## Targets",
        "",
        *target_rows(r),
        "",
        "## Capacity",
        "",
        capacity_note(r),
    ]
    if plot_name:
        lines += ["", f"![Latency against load]({plot_name})"]
    return "\n".join(lines) + "\n"
