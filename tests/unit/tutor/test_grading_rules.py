"""The exact wording ``tutor.grading`` gives a learner: every branch of a practice verdict and of a free-drawing
hint, with its tip, its confidence and the character it names."""

from __future__ import annotations

import pytest

from tutor.chars import TIPS
from tutor.grading import Thresholds, Verdict, confusion_hint, free_hint, grade_practice, shape_hint, twin_hint


def top(*pairs):
    return [{"label": c, "p": p} for c, p in pairs]


def verdict(target, correct, p_shape, looked_like=None):
    return {"target": target, "correct": correct, "p_shape": p_shape, "looked_like": looked_like, "score": p_shape}


# confusion_hint and twin_hint


def test_a_case_twin_miss_says_which_size_to_draw():
    assert (
        confusion_hint("c", "C")
        == "your c looks like a C: they differ only in size, so make it half as tall as a capital."
    )
    assert confusion_hint("O", "o") == "your O looks like an o: they differ only in size, so make it capital-sized."


def test_a_miss_without_a_specific_hint_names_the_look_alike_and_gives_the_formation_tip():
    assert confusion_hint("k", "R") == f"your k looks like an R. {TIPS['k']}"


def test_a_miss_on_a_character_without_a_tip_ends_after_naming_the_look_alike():
    assert confusion_hint("|", "l") == "your | looks like l."


def test_a_twin_hint_says_what_tells_the_twins_apart_on_a_line():
    assert twin_hint("0", "O") == "a good 0 (it could also pass for an O); on a line, a 0 is narrower than an O."
    assert twin_hint("c", "C") == (
        "a good c (it could also pass for a C); "
        "on a line, size tells them apart: make your c half as tall as a capital."
    )
    assert twin_hint("S", "s") == (
        "a good S (it could also pass for an s); on a line, size tells them apart: make your S capital-sized."
    )


def test_a_twin_without_a_known_difference_gets_the_formation_tip():
    assert twin_hint("5", "S") == f"a good 5 (it could also pass for an S); {TIPS['5']}"


# grade_practice


def test_a_practice_drawing_with_no_labels_is_not_recognised():
    v = grade_practice(verdict("4", False, 0.0), [])
    assert v == Verdict("", 0.0, correct=False, hint="nothing was recognised", tip=TIPS["4"])


def test_a_right_answer_reports_the_best_label_its_rounded_shape_probability_and_the_tip():
    v = grade_practice(verdict("4", True, 0.912345), top(("4", 0.9), ("9", 0.03)))
    assert v == Verdict("4", 0.9123, correct=True, hint="", tip=TIPS["4"])


def test_a_right_answer_exactly_at_the_confidence_threshold_needs_no_tip_in_the_hint():
    v = grade_practice(verdict("4", True, 0.6), top(("4", 0.6), ("9", 0.2)))
    assert v.correct and v.hint == ""


def test_a_shaky_right_answer_is_told_how_to_form_the_character():
    v = grade_practice(verdict("4", True, 0.45), top(("4", 0.45), ("9", 0.2)))
    assert v == Verdict("4", 0.45, correct=True, hint=f"right, but only just: {TIPS['4']}", tip=TIPS["4"])


def test_a_good_twin_is_worded_in_full():
    v = grade_practice(verdict("0", True, 0.97, "O"), top(("O", 0.9), ("0", 0.07)))
    assert v == Verdict(
        "O", 0.97, correct=True, looked_like="O", hint=twin_hint("0", "O"), tip=TIPS["0"]
    )  # the best label is the twin


def test_a_right_answer_naming_a_character_of_another_shape_is_a_plain_right_answer():
    v = grade_practice(verdict("4", True, 0.9, "9"), top(("4", 0.9), ("9", 0.05)))
    assert v == Verdict("4", 0.9, correct=True, hint="", tip=TIPS["4"])


def test_a_miss_without_a_look_alike_names_the_best_label():
    v = grade_practice(verdict("4", False, 0.1), top(("9", 0.8), ("4", 0.1)))
    assert v == Verdict(
        "9", 0.1, correct=False, looked_like="9", hint="your 4 looks like a 9: keep the top open.", tip=TIPS["4"]
    )


# shape_hint and free_hint


def test_a_shape_of_case_twins_is_told_apart_by_size_and_mixed_characters_by_size_and_width():
    assert shape_hint(["c", "C"]) == "that shape is c or C: on a line, size tells them apart."
    assert shape_hint(["o", "0", "O"]) == "that shape is o, 0 or O: on a line, size and width tell them apart."


def test_a_free_drawing_of_a_two_character_shape_gets_the_shape_hint():
    v = free_hint(top(("c", 0.6), ("C", 0.3)), shape={"labels": ["c", "C"], "p": 0.9})
    assert v == Verdict("c", 0.9, looked_like="C", hint=shape_hint(["c", "C"]), tip=TIPS["c"])


def test_a_shape_hint_names_the_second_label_and_rounds_the_shape_probability():
    v = free_hint(top(("o", 0.5), ("0", 0.3), ("O", 0.15)), shape={"labels": ["o", "0", "O"], "p": 0.951234})
    assert v.looked_like == "0" and v.confidence == 0.9512 and v.predicted == "o" and v.tip == TIPS["o"]


def test_a_shape_without_its_probability_takes_the_best_labels():
    v = free_hint(top(("c", 0.6), ("C", 0.3)), shape={"labels": ["c", "C"]})
    assert v.confidence == 0.6


def test_a_confident_free_drawing_gets_no_hint_whatever_order_its_labels_sort_in():
    assert free_hint(top(("9", 0.9), ("4", 0.05))) is None


def test_an_ambiguous_free_drawing_gets_the_specific_hint_with_a_rounded_confidence():
    v = free_hint(top(("4", 0.481234), ("9", 0.44)))
    assert v == Verdict(
        "4", 0.4812, looked_like="9", hint="that could be a 4 or a 9: your 4 looks like a 9: keep the top open.",
        tip=TIPS["4"],
    )  # fmt: skip


def test_an_ambiguous_free_drawing_without_a_specific_hint_gets_the_formation_tip():
    v = free_hint(top(("k", 0.45), ("R", 0.4)))
    assert v.hint == f"that could be a k or an R: {TIPS['k']}"


def test_two_labels_exactly_the_ambiguity_margin_apart_are_not_ambiguous():
    assert free_hint(top(("4", 0.75), ("9", 0.5)), Thresholds(ambiguity_margin=0.25)) is None


@pytest.mark.parametrize(
    "labels,other",
    [
        # the best label's shape is not the most probable one: the hint names the shape that is
        ((("c", 0.3), ("o", 0.25), ("O", 0.25), ("C", 0.1)), "O"),
        ((("C", 0.3), ("o", 0.25), ("O", 0.25), ("c", 0.1)), "O"),
        # the other shape as it was drawn: a case twin that was read keeps its case
        ((("4", 0.45), ("C", 0.4)), "C"),
        ((("4", 0.45), ("c", 0.4)), "c"),
    ],
)
def test_an_ambiguous_free_drawing_names_the_other_shape_as_it_was_read(labels, other):
    v = free_hint(top(*labels))
    assert v.looked_like == other
    assert v.hint.startswith(f"that could be a {labels[0][0]} or ")
    assert v.hint.split(": ")[0].endswith(f" {other}")


def test_a_drawing_exactly_at_the_confidence_threshold_needs_no_hint():
    assert free_hint(top(("k", 0.6))) is None


def test_an_unsure_free_drawing_is_told_how_to_form_the_character():
    v = free_hint(top(("k", 0.3), ("R", 0.1)))
    assert v == Verdict("k", 0.3, hint=f"not sure that is a k. {TIPS['k']}", tip=TIPS["k"])
