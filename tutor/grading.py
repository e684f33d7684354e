"""Feedback wording: a practice verdict (decided by ``ml.practice.judge``) or a free-drawing guess in,
one learner-friendly sentence out. Pure functions.

The decision itself is not made here: the worker judges a practice drawing on the whole calibrated
probability vector with the rule the model artifact carries, and this module words what it decided.
A drawing of the target's shape is a good target (a round zero in digit practice is a good zero); the
hint still says what tells the twins apart on a line (``O`` is capital-sized, ``0`` is narrower).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.metadata import CLASS_INDEX, CLASSES, same_shape
from ml.practice import Judgement, Rule, judge
from tutor.chars import CASE_HINT, CASE_PAIRS, CONFUSION_HINTS, TWIN_HINTS, article, tip


@dataclass(frozen=True)
class Thresholds:
    low_confidence: float = 0.6
    ambiguity_margin: float = 0.15


@dataclass(frozen=True)
class Verdict:
    predicted: str
    confidence: float
    correct: bool | None = None
    looked_like: str | None = None
    hint: str = ""
    tip: str = ""


def _probs(top: list[dict]) -> dict[str, float]:
    return {t["label"]: float(t["p"]) for t in top}


def confusion_hint(target: str, seen: str) -> str:
    """The sentence for "asked for ``target``, it looked like ``seen``"."""
    if (target, seen) in CONFUSION_HINTS:
        return CONFUSION_HINTS[(target, seen)]
    if CASE_PAIRS.get(target) == seen:
        size = "capital-sized" if target.isupper() else "half as tall as a capital"
        return CASE_HINT.format(target=target, article=article(seen), seen=seen, size=size)
    how = tip(target)
    return f"your {target} looks like {article(seen)} {seen}. {how}" if how else f"your {target} looks like {seen}."


def twin_hint(target: str, seen: str) -> str:
    """The sentence for "a good ``target``, that could also be read as its twin ``seen``"."""
    if (target, seen) in TWIN_HINTS:
        tell = "on a line, " + TWIN_HINTS[(target, seen)]
    elif target.lower() == seen.lower():
        size = "capital-sized" if target.isupper() else "half as tall as a capital"
        tell = f"on a line, size tells them apart: make your {target} {size}."
    else:
        tell = tip(target)
    return f"a good {target} (it could also pass for {article(seen)} {seen}); {tell}"


DEFAULT_RULE = Rule()


def judgement_from_top(target: str, top: list[dict], rule: Rule = DEFAULT_RULE) -> Judgement:
    """A verdict from top-k labels alone (missing labels count as 0), for a prediction made without
    its target: the same rule, on less of the vector."""
    probs = np.zeros(len(CLASSES), np.float64)
    for t in top:
        if t.get("label") in CLASS_INDEX:
            probs[CLASS_INDEX[t["label"]]] = float(t["p"])
    return judge(probs, target, rule)


def grade_practice(verdict: Judgement | dict, top: list[dict], th: Thresholds = Thresholds()) -> Verdict:
    """Word the worker's verdict on a practice drawing (``top``: labels with probabilities, best first)."""
    v = verdict.to_dict() if isinstance(verdict, Judgement) else verdict
    target, looked = v["target"], v.get("looked_like")
    best = top[0]["label"] if top else ""
    confidence = round(float(v["p_shape"]), 4)
    if not top:
        return Verdict(best, 0.0, correct=False, hint="nothing was recognised", tip=tip(target))
    if v["correct"]:
        if looked and same_shape(target, looked):
            hint = twin_hint(target, looked)
            return Verdict(best, confidence, correct=True, looked_like=looked, hint=hint, tip=tip(target))
        hint = "" if v["p_shape"] >= th.low_confidence else f"right, but only just: {tip(target)}"
        return Verdict(best, confidence, correct=True, hint=hint, tip=tip(target))
    looked = looked or best
    return Verdict(
        best, confidence, correct=False, looked_like=looked, hint=confusion_hint(target, looked), tip=tip(target)
    )


def shape_hint(labels: list[str]) -> str:
    """Free drawing: the guess is one shape shared by ``labels`` (``ml.practice.shape_guess``)."""
    names = ", ".join(labels[:-1]) + f" or {labels[-1]}"
    if all(c.lower() == labels[0].lower() for c in labels):
        return f"that shape is {names}: on a line, size tells them apart."
    return f"that shape is {names}: on a line, size and width tell them apart."


def free_hint(top: list[dict], th: Thresholds = Thresholds(), shape: dict | None = None) -> Verdict | None:
    """Free drawing: a hint when the guess is one shape of several characters (``shape``, from the
    prediction event), or when the recogniser is unsure (low confidence or two close labels)."""
    if not top:
        return None
    best, p_best = top[0]["label"], float(top[0]["p"])
    if shape and len(shape.get("labels") or []) >= 2:
        labels = [str(c) for c in shape["labels"]]
        return Verdict(
            predicted=best, confidence=round(float(shape.get("p", p_best)), 4), looked_like=labels[1],
            hint=shape_hint(labels), tip=tip(best),
        )  # fmt: skip
    # Case twins are one shape: their probabilities count together, and they are never "ambiguous".
    merged: dict[str, float] = {}
    for t in top:
        key = min(t["label"], CASE_PAIRS.get(t["label"], t["label"]))
        merged[key] = merged.get(key, 0.0) + float(t["p"])
    ranked = sorted(merged.items(), key=lambda kv: -kv[1])
    p_shape = ranked[0][1]
    runner = ranked[1] if len(ranked) > 1 else None
    base = {"predicted": best, "confidence": round(p_best, 4), "tip": tip(best)}
    if runner and p_shape - runner[1] < th.ambiguity_margin:
        other = runner[0] if runner[0] != min(best, CASE_PAIRS.get(best, best)) else ranked[0][0]
        other = other if other in _probs(top) else CASE_PAIRS.get(other, other)
        hint = f"that could be {article(best)} {best} or {article(other)} {other}: " + (
            CONFUSION_HINTS.get((best, other)) or tip(best)
        )
        return Verdict(looked_like=other, hint=hint, **base)
    if p_shape < th.low_confidence:
        return Verdict(hint=f"not sure that is {article(best)} {best}. {tip(best)}", **base)
    return None
