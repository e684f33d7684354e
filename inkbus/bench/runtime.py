"""What one recognition costs the worker, per model and serving runtime: preprocessing + forward per sample on
one thread (as the workers run), at each batch size, with the reference model (the one served before) as a row
of the same run, so that every ratio comes from one sitting on one machine.

Runtimes: frozen TorchScript (``ml.recognizer``) against ONNX Runtime fp32 and int8 (``ml.onnx_serving``). The
rows take turns in short rounds and each keeps its median round, so a neighbour's burst of CPU on a shared
machine lands on all of them rather than on one. ONNX files are exported for this run from the artifacts
(``inkbus export-onnx``, in a child process: the exporter is training-side code).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from foundation.settings import Settings
from inkbus.bench.common import load_sample, validated

BATCHES = (1, 8, 64)
TORCHSCRIPT = "torchscript"
ONNX_FP32 = "onnxruntime fp32"
ONNX_INT8 = "onnxruntime int8"


def _export(model: Path, out: Path, int8: bool) -> None:
    cmd = [sys.executable, "-m", "inkbus.cli", "export-onnx", "--model", str(model), "--out", str(out)]
    subprocess.run([*cmd, "--int8"] if int8 else cmd, check=True, capture_output=True, timeout=600)


def _open(models: dict[str, Path], workdir: Path) -> dict:
    """One recogniser per (model, runtime): every runtime for the served model, fp32 ONNX for the others."""
    from ml.onnx_serving import OnnxRecognizer
    from ml.recognizer import Recognizer

    found: dict = {}
    for label, path in models.items():
        found[(label, TORCHSCRIPT)] = Recognizer(path, 1)
        kinds = ((ONNX_FP32, False), (ONNX_INT8, True)) if label == "served" else ((ONNX_FP32, False),)
        for name, int8 in kinds:
            onnx = workdir / f"{label}-{name.split()[-1]}.onnx"
            _export(path, onnx, int8)
            found[(label, name)] = OnnxRecognizer(onnx, threads=1)
    return found


def _round(rec, inks: list, bs: int, samples: int) -> tuple[float, float]:
    """(preprocess, forward) ms per sample over ``samples`` inks in batches of ``bs``."""
    pre = fwd = 0.0
    done = 0
    while done < samples:
        i = done % (len(inks) - bs + 1)
        r = rec.recognize(inks[i : i + bs])
        pre += r.render_ms
        fwd += r.inference_ms
        done += bs
    return pre / done, fwd / done


def _agreement(recs: dict, inks: list) -> dict:
    """Each ONNX runtime's probabilities against its own model's TorchScript ones."""
    out = {}
    for (label, name), rec in recs.items():
        ref = recs[(label, TORCHSCRIPT)].recognize(inks).probs
        p = rec.recognize(inks).probs
        out[f"{label} {name}"] = {
            "max_abs_diff": float(np.abs(p - ref).max()),
            "top1_agreement": round(float((p.argmax(1) == ref.argmax(1)).mean()), 4),
        }
    return out


def runtimes(
    settings: Settings,
    workdir: Path,
    samples: int,
    rounds: int,
    reference: Path | None = None,
    candidate: Path | None = None,
) -> dict:
    """Preprocess + forward ms per sample (one thread) per model, runtime and batch size, with ratios.

    ``reference``: the model served before, the yardstick; ``candidate``: a model under consideration for serving.
    """
    import torch

    threads = torch.get_num_threads()
    models = {"served": settings.model_path}
    models |= ({"reference": reference} if reference else {}) | ({"candidate": candidate} if candidate else {})
    try:
        torch.set_num_threads(1)
        recs = _open(models, workdir)
        inks = validated(load_sample(max(256, max(BATCHES) * 2)))
        times: dict = {key: {bs: [] for bs in BATCHES} for key in recs}
        for _ in range(rounds):
            for bs in BATCHES:
                for key, rec in recs.items():
                    times[key][bs].append(_round(rec, inks, bs, max(samples // rounds, bs)))
        rows = []
        for (label, name), by_batch in times.items():
            for bs, measured in by_batch.items():
                pre, fwd = (float(np.median([m[i] for m in measured])) for i in (0, 1))
                rows.append(
                    {
                        "model": label,
                        "version": recs[(label, name)].version,
                        "runtime": name,
                        "batch": bs,
                        "preprocess_ms": round(pre, 4),
                        "forward_ms": round(fwd, 4),
                        "ms_per_sample": round(pre + fwd, 4),
                    }
                )
        _ratios(rows)
        return {"threads": 1, "rows": rows, "outputs": _agreement(recs, inks)}
    finally:
        torch.set_num_threads(threads)


def _ratios(rows: list[dict]) -> None:
    """Each row against its own model's TorchScript row, and against the reference model as it was served."""
    by = {(x["model"], x["runtime"], x["batch"]): x["ms_per_sample"] for x in rows}
    for x in rows:
        x["speedup_vs_torchscript"] = round(by[(x["model"], TORCHSCRIPT, x["batch"])] / x["ms_per_sample"], 2)
        ref = by.get(("reference", TORCHSCRIPT, x["batch"]))
        if ref:
            x["cost_vs_reference"] = round(x["ms_per_sample"] / ref, 3)


def runtime_rows(r: dict) -> list[str]:
    """Markdown rows for the benchmark's table (empty when the run had no runtime scenario)."""
    rt = r.get("runtime")
    if not rt:
        return []
    out = []
    for x in rt["rows"]:
        agree = rt["outputs"][f"{x['model']} {x['runtime']}"]
        vs_ref = f"; {x['cost_vs_reference']}x the reference's cost" if "cost_vs_reference" in x else ""
        out.append(
            f"| {x['model']} model `{x['version']}`, {x['runtime']}, batch {x['batch']}, 1 thread | "
            f"{round(1000 / x['ms_per_sample'])} | {x['ms_per_sample']} | | | preprocess {x['preprocess_ms']} + "
            f"forward {x['forward_ms']} ms/sample; {x['speedup_vs_torchscript']}x its TorchScript{vs_ref}; "
            f"probabilities within {agree['max_abs_diff']:.1e} of TorchScript's |"
        )
    return out


def cost_ratios(r: dict) -> dict:
    """The served (and a candidate) model's cost over the reference's at batch 1 and 64, in its faster fp32 runtime.

    int8 is left out: it changes the answers, so it serves only where it keeps the accuracy (docs/MODEL_CARD.md).
    """
    rows = (r.get("runtime") or {}).get("rows", [])
    out = {}
    for label, prefix in (("served", ""), ("candidate", "candidate_")):
        for bs in (1, 64):
            mine = [
                x["cost_vs_reference"]
                for x in rows
                if x["model"] == label and x["batch"] == bs and x["runtime"] != ONNX_INT8 and "cost_vs_reference" in x
            ]
            if mine:
                out[f"{prefix}cost_vs_reference_batch{bs}"] = min(mine)
    return out
