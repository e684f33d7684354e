"""``inkbus eval``: measure an exported artifact the way serving runs it, then write the model card.

The artifact is loaded with the serving loader and fed by the serving rasteriser, so the figures
describe what the app does, not what the training loop thinks it does.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ml.artifact import Artifact, load_artifact
from ml.practice import calibrated
from ml.recognizer import Recognizer, model_inputs, temperature_of
from ml.training import metrics
from ml.training.calibrate import artifact_logits
from ml.training.grading_card import grading_report
from ml.training.sources import Sources

DEFAULT_EXPERIMENTS = Path(__file__).with_name("EXPERIMENTS.md")


@torch.inference_mode()
def artifact_proba(forward, *inputs: np.ndarray, bs: int = 512) -> np.ndarray:
    """Softmax of ``forward`` (an artifact's module, or one of its exported methods) over aligned input arrays."""
    n = len(inputs[0])
    out = [
        torch.softmax(forward(*(torch.from_numpy(x[i : i + bs]) for x in inputs)), 1).numpy() for i in range(0, n, bs)
    ]
    return np.concatenate(out) if out else np.zeros((0, 62), np.float32)


def ink_proba(art: Artifact, inks: list) -> np.ndarray:
    """What serving computes for these inks: every input the artifact declares, made by the serving code."""
    return artifact_proba(art.module, *model_inputs(art.inputs, inks))


def image_proba(art: Artifact, images: np.ndarray) -> np.ndarray | None:
    """Probabilities for bare images (MNIST): the image model alone, or None when the artifact has none."""
    if art.inputs == ("image",):
        return artifact_proba(art.module, images)
    if "image" in art.inputs and hasattr(art.module, "image_logits"):
        return artifact_proba(art.module.image_logits, images)
    return None


@torch.inference_mode()
def answered_first(art: Artifact, inks: list) -> float | None:
    """A cascade's share of drawings its first stage answers alone (None for any other artifact)."""
    threshold = art.meta.get("cascade", {}).get("threshold")
    if threshold is None or not inks:
        return None
    seq = torch.from_numpy(model_inputs(("sequence",), inks)[0])
    return float((art.module.first_logp(seq).amax(1) >= np.log(threshold)).float().mean())


def _subsample(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """A fixed random subset (all of it when ``limit`` is 0): a quick card still spans every writer."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def measure_latency(model_path: Path, inks: list, repeats: int = 30, rounds: int = 3) -> dict[str, float]:
    """Per-sample milliseconds (render + forward) at batch 1 and 64, through the serving ``Recognizer``.

    Each round takes the mean of ``repeats`` calls; the best round is reported, because the
    development machine is shared and a busy neighbour only ever adds time. Successive calls take successive
    drawings: a cascade's cost depends on the drawing, so one drawing over and over would measure one path.
    """
    rec = Recognizer(model_path)
    out = {}
    for batch in (1, 64):

        def window(k: int, batch: int = batch) -> list:
            return [inks[(k * batch + i) % len(inks)] for i in range(batch)]

        for k in range(3):
            rec.recognize(window(k))  # warm-up: TorchScript specialises on the first calls of a shape
        best = None
        for _ in range(rounds):
            times = []
            for k in range(repeats):
                r = rec.recognize(window(k))
                times.append((r.render_ms + r.inference_ms, r.render_ms, r.inference_ms))
            mean = np.mean(np.array(times), axis=0) / batch
            best = mean if best is None or mean[0] < best[0] else best
        out[f"batch{batch}_ms"], out[f"batch{batch}_render_ms"], out[f"batch{batch}_model_ms"] = map(float, best)
    out["torch_threads"] = torch.get_num_threads()
    return out


def compute_report(model_path: Path, data_dir: Path, limit: int = 0, latency_repeats: int = 30) -> dict:
    art = load_artifact(model_path)
    t0 = time.monotonic()
    src = Sources(data_dir)
    keep = _subsample(len(src.ink_val), limit)
    inks, y = [src.ink_val[i] for i in keep], src.ink_val_y[keep]
    logits = artifact_logits(art, inks)
    raw = calibrated(logits, 1.0)
    probs = calibrated(logits, temperature_of(art.meta))  # what serving answers with
    mk = _subsample(len(src.mnist_test_x), limit)
    pm = image_proba(art, src.mnist_test_x[mk])
    mnist_y = src.mnist_test_y[mk] if pm is not None else src.mnist_test_y[:0]
    pm = pm if pm is not None else np.zeros((0, 62), np.float32)
    pred = probs.argmax(1)
    return {
        "model_path": str(model_path),
        "artifact_bytes": Path(model_path).stat().st_size,
        "meta": art.meta,
        "data": src.describe(),
        "val": metrics.summary(probs, y),
        "answered_first": answered_first(art, inks),
        "grading": grading_report(probs, raw, y, art.meta),
        "mnist": {
            "within_digits": float((pm[:, :10].argmax(1) == mnist_y).mean()) if len(mnist_y) else float("nan"),
            "exact_62way": float((pm.argmax(1) == mnist_y).mean()) if len(mnist_y) else float("nan"),
            "samples": len(mnist_y),
        },
        "per_class": metrics.per_class_accuracy(probs, y),
        "confusion": metrics.confusion_matrix(y, pred),
        "worst": metrics.worst_confusions(y, pred, 15),
        # a quick (limited) card is a smoke test: a few repeats are enough there
        "latency": measure_latency(
            Path(model_path), inks[:1920] or src.ink_train[:64], 5 if limit else 30, 1 if limit else 3
        ),
        "eval_seconds": time.monotonic() - t0,
        "cpu": platform.processor() or platform.machine(),
        "limit": limit,
        "load": os.getloadavg()[0],
    }


def run_evaluation(
    model_path: Path, data_dir: Path, card: Path, experiments: Path | None = None, limit: int = 0
) -> dict:
    from ml.training.model_card import write_card

    report = compute_report(Path(model_path), Path(data_dir), limit)
    exp = experiments or (DEFAULT_EXPERIMENTS if DEFAULT_EXPERIMENTS.is_file() else None)
    write_card(report, Path(card), Path(exp).read_text() if exp else "")
    v, g = report["val"], report["grading"]
    c = g["chosen"]
    report["summary_line"] = (
        f"digits {v['within_digits']:.2%}  upper {v['within_upper']:.2%}  lower {v['within_lower']:.2%}  "
        f"case-folded {v['case_folded_top1']:.2%}  exact {v['exact_top1']:.2%}  top-3 {v['top3']:.2%}  "
        f"MNIST {report['mnist']['within_digits']:.2%}  ECE {g['ece_before']:.4f}->{g['ece_after']:.4f}  "
        f"false-reject {c['false_rejection']:.2%} (worst {c['worst_char']} {c['worst_char_rejection']:.1%})  "
        f"false-accept random {c['false_acceptance_random']:.2%} hardest {c['false_acceptance_hardest']:.2%}  -> {card}"
    )
    return report
