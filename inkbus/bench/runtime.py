"""The serving runtimes side by side: frozen TorchScript (today's path, the reference row) against ONNX Runtime,
fp32 and int8, on the same prepared inputs, one thread, per batch size.

Only the forward pass is timed: preprocessing is the same numpy code whichever runtime serves (the ceiling rows
time it). The runtimes take turns in short rounds and each row keeps its median round, so a neighbour's burst of
CPU on a shared machine lands on all of them rather than on one. The ONNX files are exported for this run from
the served artifact (``inkbus export-onnx``, in a child process: the exporter is training-side code).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from foundation.settings import Settings
from inkbus.bench.common import load_sample, validated

BATCHES = (1, 8, 64)


def _export(settings: Settings, out: Path, int8: bool) -> None:
    cmd = [sys.executable, "-m", "inkbus.cli", "export-onnx", "--model", str(settings.model_path), "--out", str(out)]
    subprocess.run([*cmd, "--int8"] if int8 else cmd, check=True, capture_output=True, timeout=600)


def _runtimes(settings: Settings, workdir: Path) -> dict:
    import torch

    from ml.onnx_serving import OnnxRecognizer
    from ml.recognizer import Recognizer
    from ml.serving import BaseRecognizer

    torch.set_num_threads(1)
    found: dict[str, BaseRecognizer] = {"torchscript": Recognizer(settings.model_path, 1)}
    for name, int8 in (("onnxruntime fp32", False), ("onnxruntime int8", True)):
        path = workdir / f"{name.split()[-1]}.onnx"
        _export(settings, path, int8)
        found[name] = OnnxRecognizer(path, threads=1)
    return found


def _round_ms(rec, inputs: list[np.ndarray], bs: int, samples: int) -> float:
    n = len(inputs[0])
    t0 = time.perf_counter()
    done = 0
    while done < samples:
        i = done % (n - bs + 1)
        rec.probabilities(*(x[i : i + bs] for x in inputs))
        done += bs
    return (time.perf_counter() - t0) * 1000 / done


def _agreement(recs: dict, inputs: list[np.ndarray]) -> dict:
    ref = recs["torchscript"].probabilities(*inputs)
    out = {}
    for name, rec in recs.items():
        p = rec.probabilities(*inputs)
        out[name] = {
            "max_abs_diff": float(np.abs(p - ref).max()),
            "top1_agreement": round(float((p.argmax(1) == ref.argmax(1)).mean()), 4),
        }
    return out


def runtimes(settings: Settings, workdir: Path, samples: int, rounds: int) -> dict:
    """ms per sample (forward only, one thread) per runtime per batch size, and each one's ratio to TorchScript."""
    import torch

    threads = torch.get_num_threads()
    try:
        recs = _runtimes(settings, workdir)
        ref = recs["torchscript"]
        from ml.serving import model_inputs

        inputs = model_inputs(ref.inputs, validated(load_sample(max(256, max(BATCHES) * 2))))
        times: dict[str, dict[int, list[float]]] = {name: {bs: [] for bs in BATCHES} for name in recs}
        for _ in range(rounds):
            for bs in BATCHES:
                for name, rec in recs.items():
                    times[name][bs].append(_round_ms(rec, inputs, bs, max(samples // rounds, bs)))
        rows = []
        for name in recs:
            for bs in BATCHES:
                ms = float(np.median(times[name][bs]))
                base = float(np.median(times["torchscript"][bs]))
                rows.append(
                    {"runtime": name, "batch": bs, "ms_per_sample": round(ms, 4), "speedup": round(base / ms, 2)}
                )
        return {"model": ref.version, "threads": 1, "rows": rows, "outputs": _agreement(recs, inputs)}
    finally:
        torch.set_num_threads(threads)


def runtime_rows(r: dict) -> list[str]:
    """Markdown rows for the benchmark's table (empty when the run had no runtime scenario)."""
    rt = r.get("runtime")
    if not rt:
        return []
    out = []
    for x in rt["rows"]:
        agree = rt["outputs"][x["runtime"]]
        out.append(
            f"| runtime {x['runtime']}, batch {x['batch']}, 1 thread | {round(1000 / x['ms_per_sample'])} | "
            f"{x['ms_per_sample']} | | | forward ms/sample; {x['speedup']}x TorchScript; probabilities within "
            f"{agree['max_abs_diff']:.1e} of TorchScript's, top-1 agrees on {agree['top1_agreement']:.2%} |"
        )
    return out
