"""Practice verdicts and free-drawing shapes, decided on the whole calibrated probability vector.

"Is this drawing a good X?" is answered here and nowhere else: the worker calls ``judge`` for a job
that carries its practice target, ``inkbus recognize`` does for an input with a ``target``, and
``inkbus eval`` scores every sample with the same ``scores``. The rule and its threshold travel in
the artifact (``grading`` in ``inkbus.json``), fitted on writers held out of training
(``inkbus calibrate``); ``tutor.grading`` only words the outcome for a learner.

Same-shape characters (``ml.metadata.SAME_SHAPE``: case twins, ``0 o O``, ``1 l I``) count as the
target's shape: a round zero in digit practice is a good zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ml.metadata import CLASS_INDEX, CLASSES, same_shape, shape_of

RuleKind = Literal["shape", "margin"]
RULE_KINDS: tuple[RuleKind, ...] = ("shape", "margin")
# Free drawing: a twin shares the guess when it holds at least this share of its shape's probability.
SHAPE_SHARE = 0.1

SHAPE_OF = {c: shape_of(c) for c in CLASSES}  # computed once: shape_guess runs for every prediction
# SHAPE[t, c]: class c counts as target t's shape (t itself included).
SHAPE = np.array([[a == b or same_shape(a, b) for b in CLASSES] for a in CLASSES], dtype=bool)


@dataclass(frozen=True)
class Rule:
    """``shape``: the target's shape probability >= threshold. ``margin``: that probability's share of
    it plus the most probable character of another shape >= threshold (a contest with the best rival)."""

    kind: RuleKind = "margin"
    threshold: float = 0.5

    def to_dict(self) -> dict:
        return {"kind": self.kind, "threshold": self.threshold}

    @classmethod
    def from_meta(cls, meta: dict) -> Rule:
        """The artifact's rule; an artifact fitted before rules travelled gets the default."""
        g = meta.get("grading")
        g = g if isinstance(g, dict) else {}
        kind, threshold = g.get("kind", cls.kind), g.get("threshold", cls.threshold)
        if kind not in RULE_KINDS or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise ValueError(f"unknown grading rule {g!r}")
        return cls(kind, float(threshold))


def scores(probs: np.ndarray, targets: np.ndarray, kind: RuleKind) -> np.ndarray:
    """Each row's score for its target (class indices), vectorised: what the threshold is compared with."""
    mask = SHAPE[targets]
    p_shape = np.where(mask, probs, 0.0).sum(1)
    if kind == "shape":
        return p_shape
    rival = np.where(mask, 0.0, probs).max(1)
    return p_shape / np.maximum(p_shape + rival, 1e-12)


@dataclass(frozen=True)
class Judgement:
    target: str
    correct: bool
    score: float  # compared with the rule's threshold
    p_shape: float  # probability of the target's shape (the target and its twins)
    looked_like: str | None  # a twin it was read as (correct), or the character it looked like (not correct)
    rule: str

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "correct": self.correct,
            "score": round(self.score, 4),
            "p_shape": round(self.p_shape, 4),
            "looked_like": self.looked_like,
            "rule": self.rule,
        }


def judge(probs: np.ndarray, target: str, rule: Rule) -> Judgement:
    """The verdict on one calibrated probability row (``ml.metadata.CLASSES`` order) for ``target``."""
    t = CLASS_INDEX[target]
    score = float(scores(probs[None, :], np.array([t]), rule.kind)[0])
    p_shape = float(probs[SHAPE[t]].sum())
    correct = score >= rule.threshold
    best = int(np.argmax(probs))
    if correct:
        looked = CLASSES[best] if SHAPE[t, best] and best != t else None
    else:
        looked = CLASSES[int(np.argmax(np.where(SHAPE[t], -1.0, probs)))]
    return Judgement(target, bool(correct), score, p_shape, looked, f"{rule.kind}>={rule.threshold:g}")


def shape_guess(probs: np.ndarray) -> dict | None:
    """Free drawing: when the best guess shares its shape with a twin that holds a real share of it,
    the shape group (labels best first, and their summed probability) instead of one confident label."""
    best = CLASSES[int(np.argmax(probs))]
    group = SHAPE_OF[best]
    if len(group) == 1:
        return None
    p = {c: float(probs[CLASS_INDEX[c]]) for c in group}
    total = sum(p.values())
    labels = sorted((c for c in group if p[c] >= SHAPE_SHARE * total), key=lambda c: -p[c])
    if len(labels) < 2:
        return None
    return {"labels": labels, "p": round(total, 6)}


def calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``logits / temperature`` over the last axis (temperature scaling)."""
    z = logits / temperature
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)
