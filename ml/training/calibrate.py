"""``inkbus calibrate``: fit temperature scaling and choose the practice rule on calibration writers.

Calibration writers are held out of training (``ml.training.data.calibration_split``) and are not the
validation writers the model card reports on, so neither the temperature nor the threshold is tuned
to the figures it is judged by. Both are written into the artifact's metadata, where serving reads
them (``ml.recognizer``, ``ml.practice``).

The rule is chosen by a fixed procedure: among every candidate kind and threshold (a grid of 0.01),
keep those whose false acceptance on the calibration writers is within the targets (random target
``max_fa_random``, hardest target ``max_fa_hardest``), and take the one with the lowest false
rejection; ties go to the lower worst single-character rejection. When none is within both, the
one with the lowest hardest-target false acceptance is taken, and the artifact says so.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ml.artifact import Artifact, load_artifact, resave_artifact
from ml.practice import RULE_KINDS, Rule, calibrated
from ml.recognizer import model_inputs
from ml.training import metrics
from ml.training.grading_metrics import curve
from ml.training.sources import Sources

THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)
MAX_FA_RANDOM = 0.005
MAX_FA_HARDEST = 0.08


@torch.inference_mode()
def artifact_logits(art: Artifact, inks: list, bs: int = 512) -> np.ndarray:
    """The module's raw outputs (before softmax) for inks, fed by the serving feature code."""
    out = []
    for i in range(0, len(inks), bs):
        xs = model_inputs(art.inputs, inks[i : i + bs])
        out.append(art.module(*(torch.from_numpy(x) for x in xs)).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(art.classes)), np.float32)


def nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    p = calibrated(logits.astype(np.float64), temperature)
    return float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises negative log-likelihood: a coarse log grid, then a fine one."""
    grid = np.exp(np.linspace(np.log(0.1), np.log(10.0), 93))
    best = min(grid, key=lambda t: nll(logits, y, t))
    fine = best * np.exp(np.linspace(-0.06, 0.06, 61))
    return float(min(fine, key=lambda t: nll(logits, y, t)))


def choose_rule(
    probs: np.ndarray, y: np.ndarray, max_fa_random: float = MAX_FA_RANDOM, max_fa_hardest: float = MAX_FA_HARDEST
) -> tuple[Rule, dict, dict]:
    """The rule the procedure above picks, its figures, and every candidate's curve (for the plot)."""
    curves = {kind: curve(probs, y, kind, THRESHOLDS) for kind in RULE_KINDS}
    candidates = [f for fs in curves.values() for f in fs]
    within = [
        f
        for f in candidates
        if f["false_acceptance_random"] <= max_fa_random and f["false_acceptance_hardest"] <= max_fa_hardest
    ]
    if within:
        best = min(within, key=lambda f: (f["false_rejection"], f["worst_char_rejection"]))
    else:
        best = min(candidates, key=lambda f: (f["false_acceptance_hardest"], f["false_rejection"]))
    rule = Rule(best["rule"]["kind"], best["rule"]["threshold"])
    return rule, {**best, "within_targets": bool(within)}, curves


def calibrate(model_path: Path, data_dir: Path, out: Path, version: str | None = None, echo=print) -> dict:
    """Fit on the calibration writers and write the calibrated artifact to ``out``."""
    t0 = time.monotonic()
    art = load_artifact(model_path)
    src = Sources(data_dir)
    if not len(src.ink_calib):
        raise ValueError(f"no calibration writers in {data_dir}")
    logits, y = artifact_logits(art, src.ink_calib), src.ink_calib_y
    temperature = fit_temperature(logits, y)
    before, after = calibrated(logits, 1.0), calibrated(logits, temperature)
    rule, chosen, _ = choose_rule(after, y)
    fitted_on = {"split": "calibration writers", "writers": len(src.calib_writers), "samples": len(y)}
    calibration = {
        "method": "temperature",
        "temperature": round(temperature, 5),
        "fitted_on": fitted_on,
        "ece_before": round(metrics.expected_calibration_error(before, y), 5),
        "ece_after": round(metrics.expected_calibration_error(after, y), 5),
        "nll_before": round(nll(logits, y, 1.0), 5),
        "nll_after": round(nll(logits, y, temperature), 5),
    }
    grading = {
        **rule.to_dict(),
        "fitted_on": fitted_on,
        "procedure": (
            f"lowest false rejection with false acceptance <= {MAX_FA_RANDOM:g} (random target) and "
            f"<= {MAX_FA_HARDEST:g} (hardest target) on the calibration writers; thresholds every 0.01"
        ),
        "within_targets": chosen["within_targets"],
        "calibration_figures": {
            k: round(chosen[k], 5)
            for k in ("false_rejection", "false_acceptance_random", "false_acceptance_hardest", "worst_char_rejection")
        },
    }
    meta = {**art.meta, "calibration": calibration, "grading": grading}
    if version:
        meta["parent_version"], meta["version"] = art.version, version
    resave_artifact(art, out, meta)
    echo(
        f"temperature {temperature:.4f}: ECE {calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f} "
        f"on {fitted_on['samples']:,} samples of {fitted_on['writers']} calibration writers; rule {rule.kind} >= "
        f"{rule.threshold:g}: false rejection {chosen['false_rejection']:.2%}, false acceptance "
        f"{chosen['false_acceptance_random']:.2%} random / {chosen['false_acceptance_hardest']:.2%} hardest "
        f"({time.monotonic() - t0:.0f} s)"
    )
    return meta
