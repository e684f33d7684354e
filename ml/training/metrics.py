"""Accuracy measures as the UNIPEN literature reports them, over a probability matrix (N, 62).

Rows of ``probs`` are samples, columns follow ``ml.metadata.CLASSES``; ``y`` holds class indices.
"""

from __future__ import annotations

import numpy as np

from ml.metadata import CASE_FOLDED, CLASS_INDEX, CLASSES, DIGITS, LOWER, NUM_CLASSES, UPPER

CATEGORIES: dict[str, tuple[str, ...]] = {"digits": DIGITS, "upper": UPPER, "lower": LOWER}


def fold_map() -> np.ndarray:
    """Class index -> class index with the 15 look-alike lower-case letters mapped to upper case."""
    out = np.arange(NUM_CLASSES)
    for c in CASE_FOLDED:
        out[CLASS_INDEX[c]] = CLASS_INDEX[c.upper()]
    return out


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean()) if len(y) else float("nan")


def topk_accuracy(probs: np.ndarray, y: np.ndarray, k: int) -> float:
    if not len(y):
        return float("nan")
    topk = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    return float((topk == y[:, None]).any(1).mean())


def case_folded_accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    """62-way top-1 where predicting ``o`` for ``O`` (and the other 14 look-alikes) counts as right."""
    f = fold_map()
    return float((f[probs.argmax(1)] == f[y]).mean()) if len(y) else float("nan")


def within_category_accuracy(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Digits among the 10 digits, upper among the 26 upper, lower among the 26 lower.

    The category is the true label's: the model's choice is restricted to that category's columns,
    which is how the UNIPEN 1a/1b/1c benchmarks are scored (each is its own 10- or 26-way task).
    """
    out = {}
    for name, members in CATEGORIES.items():
        cols = np.array([CLASS_INDEX[c] for c in members])
        rows = np.isin(y, cols)
        if not rows.any():
            out[name] = float("nan")
            continue
        pred = cols[probs[rows][:, cols].argmax(1)]
        out[name] = float((pred == y[rows]).mean())
    return out


def confusion_matrix(y: np.ndarray, pred: np.ndarray, n: int = NUM_CLASSES) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    return np.bincount(y * n + pred, minlength=n * n).reshape(n, n)


def per_class_accuracy(probs: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, int]]:
    """Class -> (accuracy, support); classes with no samples are left out."""
    cm = confusion_matrix(y, probs.argmax(1))
    support = cm.sum(1)
    return {CLASSES[i]: (float(cm[i, i] / support[i]), int(support[i])) for i in range(NUM_CLASSES) if support[i]}


def worst_confusions(y: np.ndarray, pred: np.ndarray, k: int = 10) -> list[tuple[str, str, int]]:
    """The k most frequent (true, predicted) mistakes."""
    cm = confusion_matrix(y, pred)
    np.fill_diagonal(cm, 0)
    flat = np.argsort(-cm, axis=None, kind="stable")[:k]
    return [(CLASSES[i // NUM_CLASSES], CLASSES[i % NUM_CLASSES], int(cm.flat[i])) for i in flat if cm.flat[i] > 0]


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    if not len(y):
        return float("nan")
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    which = np.minimum((conf * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def summary(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Every headline figure of the model card for one probability matrix."""
    return {
        **{f"within_{k}": v for k, v in within_category_accuracy(probs, y).items()},
        "case_folded_top1": case_folded_accuracy(probs, y),
        "exact_top1": accuracy(probs, y),
        "top3": topk_accuracy(probs, y, 3),
        "ece": expected_calibration_error(probs, y),
        "samples": len(y),
    }
