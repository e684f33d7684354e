"""Feedback rules: a prediction (and, in practice mode, a target) in, a verdict and a hint out. Pure functions.

Case-aware grading: the recogniser normalises ink by its own bounding box, so a drawn ``c`` and ``C`` are
the same picture to it. When the target and the top label differ only by case for such a pair, the
drawing is graded correct and the hint says that size is what tells them apart on a line.
Inside other look-alike groups (``o``/``O``/``0``, ``l``/``1``/``I`` …) an ambiguous answer, where the
target is within ``ambiguity_margin`` of the top label, is also graded correct, with a hint to make it clearer.
"""

from __future__ import annotations

from dataclasses import dataclass

from tutor.chars import CASE_HINT, CASE_PAIRS, CONFUSION_HINTS, article, lookalikes, tip


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


def grade_practice(target: str, top: list[dict], th: Thresholds = Thresholds()) -> Verdict:
    """Was ``top`` (labels with probabilities, best first) a good ``target``?"""
    if not top:
        return Verdict(predicted="", confidence=0.0, correct=False, hint="nothing was recognised", tip=tip(target))
    best, p_best = top[0]["label"], float(top[0]["p"])
    p_target = _probs(top).get(target, 0.0)
    base = {"predicted": best, "confidence": round(p_best, 4), "tip": tip(target)}
    if best == target:
        hint = "" if p_best >= th.low_confidence else f"right, but only just: {tip(target)}"
        return Verdict(correct=True, hint=hint, **base)
    if CASE_PAIRS.get(target) == best:
        return Verdict(correct=True, looked_like=best, hint=confusion_hint(target, best), **base)
    if best in lookalikes(target) and p_best - p_target <= th.ambiguity_margin:
        return Verdict(correct=True, looked_like=best, hint="close call: " + confusion_hint(target, best), **base)
    return Verdict(correct=False, looked_like=best, hint=confusion_hint(target, best), **base)


def free_hint(top: list[dict], th: Thresholds = Thresholds()) -> Verdict | None:
    """Free drawing: a hint only when the recogniser is unsure (low confidence or two close labels)."""
    if not top:
        return None
    best, p_best = top[0]["label"], float(top[0]["p"])
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
