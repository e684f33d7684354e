"""Keeps ``inkbus bench`` working: a tiny run end to end. It asserts what ran, never how fast."""

from __future__ import annotations

import json
import subprocess
import sys

from foundation.settings import REPO_ROOT


def test_bench_tiny_runs_every_scenario(settings, rabbit_url, clean_bus, tmp_path):
    env = {"INKBUS_BROKER_URL": rabbit_url, "INKBUS_MODEL_PATH": str(settings.model_path), "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [
            *(sys.executable, "-m", "inkbus.cli", "bench", "--tiny", "--out", str(tmp_path)),
            # the served model stands in for an older one and a candidate, this checkout for an older tree
            *("--reference-model", str(settings.model_path), "--candidate-model", str(settings.model_path)),
            *("--baseline-tree", str(REPO_ROOT)),
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["drain_batched"]["all_answered"] and r["drain_unbatched"]["all_answered"]
    assert r["live"][0]["connected"] == r["live"][0]["drawers"] and not r["live"][0]["errors"]
    assert r["live"][0]["latency_ms"]["n"] > 0
    assert r["saturation"]["saturated_per_s"] > 0 and r["http_baseline"][0]["errors"] == 0
    assert set(r["ratios"]) >= {"saturated_vs_ceiling", "saturated_vs_unbatched_celery", "bus_overhead_p50_ms"}
    assert "| live path, 3 drawers |" in res.stdout
    rt = r["runtime"]  # models and runtimes side by side, the reference model's TorchScript the yardstick
    assert {(x["model"], x["runtime"], x["batch"]) for x in rt["rows"]} == {
        (name, runtime, bs)
        for name, runtimes in (
            ("served", ("torchscript", "onnxruntime fp32", "onnxruntime int8")),
            ("reference", ("torchscript", "onnxruntime fp32")),
            ("candidate", ("torchscript", "onnxruntime fp32")),
        )
        for runtime in runtimes
        for bs in (1, 8, 64)
    }
    assert rt["outputs"]["served onnxruntime fp32"]["max_abs_diff"] <= 1e-4
    assert all(x["preprocess_ms"] > 0 and x["forward_ms"] > 0 for x in rt["rows"])
    assert {"cost_vs_reference_batch1", "cost_vs_reference_batch64", "candidate_cost_vs_reference_batch1"} <= set(
        r["ratios"]
    )
    assert ", onnxruntime fp32, batch 1, 1 thread |" in res.stdout
    base = r["baseline"]  # the live path against the other tree, in the same run
    assert base["latency_ms"]["n"] > 0 and not base["errors"] and base["cpu_ms_per_recognition"]["server"] > 0
    assert "| CPU ms per recognition | 3 drawers |" in res.stdout
    # the two trees ran in turn; the ratios are of those rounds' medians
    assert [set(p) for p in base["rounds"]] == [{"this", "baseline"}]
    assert base["rounds"][0]["this"]["latency_ms"]["n"] > 0 and r["ratios"]["baseline_rounds"] == 1
    assert "| 3 drawers, in turn | this tree: CPU ms / p99 ms |" in res.stdout
    stages = r["live"][0]["stages_ms"]  # where the time went, one entry per answered pen-up
    assert {k: v["n"] for k, v in stages.items()} == dict.fromkeys(stages, r["live"][0]["latency_ms"]["n"])
    assert "| stage, p50 / p99 ms | 3 drawers |" in res.stdout
    # strokes streamed without pen-ups: events reach the edge, nothing is recognised, the edge's cost per event
    streaming = r["streaming"]
    assert streaming["pen_ups"] is False and streaming["connected"] == 3 and not streaming["errors"]
    assert streaming["events_per_s"] > 0 and streaming["recognitions_per_s"] == 0 and streaming["latency_ms"]["n"] == 0
    assert streaming["edge_cpu_ms_per_event"] >= 0 and "edge_cpu_ms_per_streamed_event" in r["ratios"]
    assert "| strokes streamed without pen-ups, 3 drawers |" in res.stdout
    assert r["live"][0]["events_per_recognition"] >= 1 and "| events sent per recognition |" in res.stdout
    assert (tmp_path / "latency.png").stat().st_size > 1000
