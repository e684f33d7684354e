"""The promotion gate: is a candidate better than the serving model, beyond the noise of measuring it?

Both models are run by the serving ``Recognizer`` on the same samples: the fixed writer-disjoint
UNIPEN validation writers, and the held-out learners of a snapshot (drawings from people the
candidate never trained on). Per sample we record whether the top label is right, and what the
practice verdict (``ml.practice``, each model with the rule and temperature its artifact carries)
would tell a learner:

- *false rejection*: asked for the drawn character, the drawing is graded wrong;
- *false acceptance*: asked for a look-alike of another shape (``9`` drawn, ``4`` asked; a fixed,
  seeded choice per sample, the same for both models), the drawing is graded right. Same-shape twins
  (``o`` drawn, ``0`` asked) are the target's shape and never count as false acceptance.

Noise is measured with a paired bootstrap: the samples are resampled with replacement, and both
models' figures are recomputed on the same resample, ``bootstrap`` times. The 95% interval of the
difference says how much of it the sample of drawings alone could produce. The candidate is promoted
only if its overall top-1 (both sets pooled) is higher, and no figure (each set overall, each
category: digits, upper, lower; false rejection, false acceptance) is worse with its whole
interval on the worse side. A figure with too few samples has a wide interval and cannot refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.metadata import CLASS_INDEX, CLASSES, DIGITS, LOWER, UPPER, same_shape
from ml.practice import Rule, scores
from ml.recognizer import Recognizer
from ml.training import data as D
from tutor.chars import lookalikes

CATEGORY_OF = {**dict.fromkeys(DIGITS, "digits"), **dict.fromkeys(UPPER, "upper"), **dict.fromkeys(LOWER, "lower")}
HIGHER_IS_BETTER = {"top1": True, "false_rejection": False, "false_acceptance": False}


@dataclass
class EvalSet:
    name: str
    inks: list
    y: np.ndarray  # class indices


def load_sets(data_dir: Path, snapshot: Path | None, val_fraction: float = 0.1, limit: int = 0) -> list[EvalSet]:
    """The writer-disjoint validation writers of ``data_dir`` and the snapshot's held-out learners."""
    sets = []
    ink = Path(data_dir) / "unipen" / "ink.jsonl.gz"
    if ink.is_file():
        strokes, y, writers = D.load_ink_samples(ink)
        val = D.writer_split(writers, val_fraction)
        idx = np.flatnonzero(val)
        if limit and len(idx) > limit:
            idx = np.sort(np.random.default_rng(0).choice(idx, limit, replace=False))
        sets.append(EvalSet("validation", [strokes[i] for i in idx], y[idx]))
    if snapshot is not None and (Path(snapshot) / "holdout.jsonl").is_file():
        strokes, y, _ = D.load_ink_samples(Path(snapshot) / "holdout.jsonl")
        sets.append(EvalSet("learners", strokes, y))
    return [s for s in sets if len(s.y)]


def impostor_targets(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """For each drawn class, a look-alike of another shape to have been asked for (a random character of
    another shape when it has none)."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(y)
    for i, label in enumerate(y):
        drawn = CLASSES[label]
        other = [c for c in CLASSES if c != drawn and not same_shape(c, drawn)]
        pool = sorted(c for c in lookalikes(drawn) if c in other) or other
        out[i] = CLASS_INDEX[pool[rng.integers(len(pool))]]
    return out


def outcomes(probs: np.ndarray, y: np.ndarray, impostors: np.ndarray, rule: Rule) -> dict[str, np.ndarray]:
    """Per-sample 0/1 outcomes: top-1 right, falsely rejected, falsely accepted (``ml.practice``'s rule)."""
    top1 = (probs.argmax(1) == y).astype(float)
    fr = scores(probs, y, rule.kind) < rule.threshold
    fa = scores(probs, impostors, rule.kind) >= rule.threshold
    return {"top1": top1, "false_rejection": fr.astype(float), "false_acceptance": fa.astype(float)}


def paired_interval(a: np.ndarray, b: np.ndarray, resamples: np.ndarray) -> tuple[float, float, float]:
    """Mean of b - a, and its 95% bootstrap interval over the given index resamples."""
    d = b - a
    means = d[resamples].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(d.mean()), float(lo), float(hi)


def _slices(sets: list[EvalSet]) -> dict[str, np.ndarray]:
    """Which pooled rows each reported figure covers: each set, and each category within each set."""
    out, start = {}, 0
    for s in sets:
        rows = np.arange(start, start + len(s.y))
        out[s.name] = rows
        cats = np.array([CATEGORY_OF[CLASSES[c]] for c in s.y])
        for cat in ("digits", "upper", "lower"):
            if (cats == cat).any():
                out[f"{s.name}/{cat}"] = rows[cats == cat]
        start += len(s.y)
    out["overall"] = np.arange(start)
    return out


def probabilities(model: Path, sets: list[EvalSet], batch: int = 256) -> tuple[np.ndarray, Rule]:
    """What serving answers with for every sample (calibrated), and the practice rule the artifact carries."""
    rec = Recognizer(model)
    inks = [ink for s in sets for ink in s.inks]
    parts = [rec.recognize(inks[i : i + batch]).probs for i in range(0, len(inks), batch)]
    return (np.concatenate(parts) if parts else np.zeros((0, len(CLASSES)), np.float32)), rec.rule


def _with_rule(probs_rule: tuple[np.ndarray, Rule], y: np.ndarray, impostors: np.ndarray) -> tuple:
    probs, rule = probs_rule
    return probs, y, impostors, rule


def gate(candidate: Path, current: Path, sets: list[EvalSet], bootstrap: int = 1000, seed: int = 0) -> dict:
    """The verdict (``promote``), its reasons, and every figure of both models with the difference's interval."""
    if not sets:
        return {"promote": False, "reasons": ["no evaluation data: neither validation ink nor held-out learners"]}
    y = np.concatenate([s.y for s in sets])
    impostors = impostor_targets(y, seed)
    cur = outcomes(*_with_rule(probabilities(current, sets), y, impostors))
    cand = outcomes(*_with_rule(probabilities(candidate, sets), y, impostors))

    rng = np.random.default_rng(seed)
    figures, reasons = {}, []
    for where, rows in _slices(sets).items():
        resamples = rng.integers(0, len(rows), size=(bootstrap, len(rows)))
        # grading figures are reported on the pooled set only; per category they are too thin to mean much
        names = ("top1",) if "/" in where else tuple(HIGHER_IS_BETTER)
        for name in names:
            delta, lo, hi = paired_interval(cur[name][rows], cand[name][rows], resamples)
            key = f"{where}:{name}"
            figures[key] = {
                "current": round(float(cur[name][rows].mean()), 5),
                "candidate": round(float(cand[name][rows].mean()), 5),
                "delta": round(delta, 5),
                "interval95": [round(lo, 5), round(hi, 5)],
                "samples": len(rows),
            }
            worse = hi < 0 if HIGHER_IS_BETTER[name] else lo > 0
            if worse:
                reasons.append(f"{key} worse beyond noise: {figures[key]['current']} -> {figures[key]['candidate']} "
                               f"(95% interval of the change {lo:+.4f} .. {hi:+.4f}, {len(rows)} samples)")  # fmt: skip
    overall = figures["overall:top1"]
    if float(overall["delta"]) <= 0:  # type: ignore[arg-type]
        reasons.insert(0, f"not better overall: top-1 {overall['current']} -> {overall['candidate']}")
    return {"promote": not reasons, "reasons": reasons, "figures": figures, "bootstrap": bootstrap}
