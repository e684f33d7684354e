"""The practice rule on hand-made probability vectors, free drawing's shape, calibration and the learner figures."""

from __future__ import annotations

import numpy as np
import pytest

from ml.metadata import CLASS_INDEX, CLASSES, SAME_SHAPE, same_shape, shape_of
from ml.practice import Rule, calibrated, judge, scores, shape_guess
from ml.training.calibrate import choose_rule, fit_temperature
from ml.training.grading_metrics import figures, hardest_targets, top1_figures


def probs(**labelled: float) -> np.ndarray:
    """A 62-way vector with the given labels' probabilities and the rest spread evenly over the classes
    that share no shape with a given label (so the given labels' shapes hold exactly what is given)."""
    p = np.zeros(len(CLASSES))
    given = [k.removeprefix("_") for k in labelled]
    for k, v in zip(given, labelled.values(), strict=True):
        p[CLASS_INDEX[k]] = v
    free = [i for i, c in enumerate(CLASSES) if not any(c in shape_of(g) for g in given)]
    p[free] = (1 - p.sum()) / len(free)
    return p


def test_same_shape_is_the_15_case_twins_and_the_two_cross_category_groups():
    assert len(SAME_SHAPE) == 2 * (15 + 2 + 3)  # o-O is a case twin and in 0 o O
    assert same_shape("0", "O") and same_shape("o", "0") and same_shape("1", "I") and same_shape("l", "1")
    assert same_shape("z", "Z") and not same_shape("a", "A") and not same_shape("z", "2") and not same_shape("0", "0")
    assert shape_of("0") == "0Oo" and set(shape_of("l")) == set("l1IL")


@pytest.mark.parametrize(
    "rule,p,correct",
    [
        # shape: the target's shape probability against the threshold, both sides of it
        (Rule("shape", 0.5), probs(_0=0.1, o=0.35, O=0.06, _8=0.4), True),  # 0.51 >= 0.5
        (Rule("shape", 0.5), probs(_0=0.1, o=0.3, O=0.09, _8=0.5), False),  # 0.49 <  0.5
        # margin: shape / (shape + best rival)
        (Rule("margin", 0.6), probs(_0=0.3, _8=0.2), True),  # 0.3 / 0.5 = 0.6
        (Rule("margin", 0.6), probs(_0=0.29, _8=0.2), False),  # 0.29 / 0.49 < 0.6
    ],
)
def test_the_rule_on_both_sides_of_its_threshold(rule, p, correct):
    j = judge(p, "0", rule)
    assert j.correct is correct and j.rule == f"{rule.kind}>={rule.threshold:g}"


def test_a_round_zero_is_a_good_zero_and_a_bar_is_a_good_one():
    j = judge(probs(o=0.6, O=0.3, _0=0.05), "0", Rule("margin", 0.5))
    assert j.correct and j.looked_like == "o" and j.p_shape == pytest.approx(0.95)
    j = judge(probs(l=0.7, I=0.1, _1=0.1), "1", Rule("margin", 0.5))
    assert j.correct and j.looked_like == "l"
    j = judge(probs(l=0.7, I=0.1, _1=0.1), "7", Rule("margin", 0.5))
    assert not j.correct and j.looked_like == "l"  # the most probable character of another shape


def test_the_two_rule_kinds_score_the_same_rows_differently():
    p = np.stack([probs(a=0.4, d=0.4), probs(a=0.4, d=0.1)])
    t = np.array([CLASS_INDEX["a"]] * 2)
    assert scores(p, t, "shape") == pytest.approx([0.4, 0.4])
    assert scores(p, t, "margin") == pytest.approx([0.5, 0.8])


def test_rules_travel_in_the_artifact_and_bad_ones_are_refused():
    assert Rule.from_meta({"grading": {"kind": "shape", "threshold": 0.3}}) == Rule("shape", 0.3)
    assert Rule.from_meta({}) == Rule()
    for bad in ({"kind": "vibes", "threshold": 0.3}, {"kind": "shape", "threshold": 3}):
        with pytest.raises(ValueError):
            Rule.from_meta({"grading": bad})


def test_free_drawing_shows_a_shape_only_when_a_twin_holds_a_real_share():
    assert shape_guess(probs(o=0.6, O=0.3, _0=0.05)) == {"labels": ["o", "O"], "p": pytest.approx(0.95, abs=1e-6)}
    assert shape_guess(probs(o=0.5, _0=0.3, O=0.15))["labels"] == ["o", "0", "O"]
    assert shape_guess(probs(o=0.97)) is None  # the twins hold under a tenth of the shape
    assert shape_guess(probs(a=0.6, d=0.3)) is None  # a has no twin


def test_temperature_scaling_recovers_the_temperature_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 62))
    true_t = 2.0
    p = calibrated(logits, true_t)
    y = np.array([rng.choice(62, p=row) for row in p])
    assert fit_temperature(logits, y) == pytest.approx(true_t, rel=0.1)


def test_learner_figures_count_rejections_and_acceptances_by_shape():
    # Two samples: a "0" read as o (same shape) and an "A" read as 4 (another shape).
    p = np.stack([probs(o=0.8, _0=0.1), probs(_4=0.7, A=0.2)])
    y = np.array([CLASS_INDEX["0"], CLASS_INDEX["A"]])
    assert [CLASSES[h] for h in hardest_targets(p, y)] == ["1", "4"]  # ties go to the first class of another shape
    f = figures(p, y, Rule("shape", 0.5))
    assert f["false_rejection"] == 0.5 and f["false_rejection_by_char"] == {"0": 0.0, "A": 1.0}
    assert f["false_acceptance_hardest"] == 0.5  # the A passes for a 4
    t1 = top1_figures(p, y)
    assert t1["false_rejection"] == 1.0 and t1["false_acceptance_hardest"] == 0.5


def test_the_chosen_rule_meets_the_acceptance_limits_on_the_data_it_was_chosen_on():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 62, 600)
    logits = rng.normal(0, 1, (600, 62))
    logits[np.arange(600), y] += rng.normal(4, 2, 600)  # mostly right, sometimes not
    rule, chosen, curves = choose_rule(calibrated(logits, 1.0), y, max_fa_random=0.005, max_fa_hardest=0.08)
    assert chosen["within_targets"]
    assert chosen["false_acceptance_hardest"] <= 0.08 and chosen["false_acceptance_random"] <= 0.005
    # and no other candidate within the limits rejects fewer
    others = [f for fs in curves.values() for f in fs if f["false_acceptance_hardest"] <= 0.08]
    others = [f for f in others if f["false_acceptance_random"] <= 0.005]
    assert chosen["false_rejection"] == min(f["false_rejection"] for f in others)
    assert rule.kind in ("shape", "margin")
