"""What a learner meets in practice mode, measured on labelled ink with ``ml.practice``'s rule.

- false rejection: the learner draws the target (target = the true label) and is told "not quite";
- false acceptance, random target: asked for a random character of another shape, the drawing passes;
- false acceptance, hardest target: asked for the model's most probable character that is not the true
  label's shape (the learner's most confusable wrong character), the drawing passes.
"Another shape" excludes the true label's same-shape twins (``ml.metadata.SAME_SHAPE``): drawing an
``O`` when asked for ``0`` is not a wrong character.
"""

from __future__ import annotations

import numpy as np

from ml.metadata import CLASSES, DIGITS, LOWER, UPPER
from ml.practice import SHAPE, Rule, RuleKind, scores

CATEGORIES = {"digits": DIGITS, "upper": UPPER, "lower": LOWER}


def all_target_scores(probs: np.ndarray, kind: RuleKind) -> np.ndarray:
    """(N, 62): every sample's score for every possible target, the way ``ml.practice.scores`` computes one."""
    n, c = probs.shape
    out = np.empty((n, c), np.float64)
    for t in range(c):
        out[:, t] = scores(probs, np.full(n, t), kind)
    return out


def hardest_targets(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per sample, the most probable class that is not of the true label's shape."""
    return np.where(SHAPE[y], -1.0, probs).argmax(1)


def figures(probs: np.ndarray, y: np.ndarray, rule: Rule, all_scores: np.ndarray | None = None) -> dict:
    """False rejection (overall, per category, per character) and false acceptance (random, hardest)."""
    s = all_target_scores(probs, rule.kind) if all_scores is None else all_scores
    rows = np.arange(len(y))
    accepted = s >= rule.threshold
    rejected = ~accepted[rows, y]
    other = ~SHAPE[y]  # (N, 62): targets of another shape than the true label
    fa_random = float((accepted & other).sum(1).astype(float).sum() / max(other.sum(), 1))
    fa_hard = float(accepted[rows, hardest_targets(probs, y)].mean()) if len(y) else float("nan")
    per_char = {CLASSES[k]: float(rejected[y == k].mean()) for k in range(len(CLASSES)) if (y == k).any()}
    per_cat = {}
    for name, chars in CATEGORIES.items():
        sel = np.isin(y, [CLASSES.index(c) for c in chars])
        per_cat[name] = float(rejected[sel].mean()) if sel.any() else float("nan")
    worst = max(per_char, key=lambda ch: per_char[ch]) if per_char else None
    return {
        "rule": rule.to_dict(),
        "false_rejection": float(rejected.mean()) if len(y) else float("nan"),
        "false_rejection_by_category": per_cat,
        "false_rejection_by_char": per_char,
        "worst_char": worst,
        "worst_char_rejection": per_char.get(worst, float("nan")) if worst else float("nan"),
        "false_acceptance_random": fa_random,
        "false_acceptance_hardest": fa_hard,
        "samples": len(y),
    }


def top1_figures(probs: np.ndarray, y: np.ndarray) -> dict:
    """The reference point "correct when the top label is the target": no shapes, no threshold."""
    pred = probs.argmax(1)
    other = ~SHAPE[y]
    hard = hardest_targets(probs, y)
    return {
        "false_rejection": float((pred != y).mean()),
        "false_acceptance_random": float(other[np.arange(len(y)), pred].sum() / max(other.sum(), 1)),
        "false_acceptance_hardest": float((pred == hard).mean()),
    }


def curve(probs: np.ndarray, y: np.ndarray, kind: RuleKind, thresholds: np.ndarray) -> list[dict]:
    """Figures at every threshold of one rule kind (the scores are computed once)."""
    s = all_target_scores(probs, kind)
    return [figures(probs, y, Rule(kind, float(t)), s) for t in thresholds]
