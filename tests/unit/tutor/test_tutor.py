"""Feedback rules, the progress store (SQLite) and the feedback engine's handling of events, without a broker."""

from __future__ import annotations

import pytest

from bus.schemas import FeedbackEvent
from tutor.chars import CASE_PAIRS, CHARSET, CONFUSION_HINTS, TIPS, lookalikes
from tutor.engine import FeedbackEngine
from tutor.grading import Thresholds, free_hint, grade_practice, judgement_from_top
from tutor.store import open_store

INK = {"strokes": [[[0, 0], [10, 40], [20, 0]]]}


def top(*pairs):
    return [{"label": c, "p": p} for c, p in pairs]


def test_every_one_of_the_62_characters_has_a_tip():
    assert len(CHARSET) == 62 and set(TIPS) == set(CHARSET)
    assert all(len(TIPS[c]) > 20 for c in CHARSET)
    for (a, b), hint in CONFUSION_HINTS.items():
        assert a in CHARSET and b in CHARSET and hint.startswith(f"your {a} looks like")


def verdict(target, correct, p_shape, looked_like=None):
    return {"target": target, "correct": correct, "p_shape": p_shape, "looked_like": looked_like, "score": p_shape}


def test_a_right_answer_is_correct_and_a_shaky_one_gets_a_tip():
    v = grade_practice(verdict("4", True, 0.95), top(("4", 0.95), ("9", 0.03)))
    assert v.correct and v.hint == "" and v.predicted == "4" and v.confidence == 0.95
    v = grade_practice(verdict("4", True, 0.45), top(("4", 0.45), ("9", 0.2)))
    assert v.correct and v.hint.startswith("right, but only just")


def test_a_miss_names_the_look_alike_and_the_specific_hint():
    v = grade_practice(verdict("4", False, 0.1, "9"), top(("9", 0.8), ("4", 0.1)))
    assert not v.correct and v.looked_like == "9"
    assert v.hint == "your 4 looks like a 9: keep the top open."
    v = grade_practice(verdict("k", False, 0.01, "R"), top(("R", 0.9)))  # no specific hint: the formation tip
    assert not v.correct and "looks like an R" in v.hint and TIPS["k"] in v.hint


@pytest.mark.parametrize("target,seen", [("c", "C"), ("O", "o"), ("s", "S"), ("x", "X"), ("W", "w")])
def test_a_good_case_twin_is_correct_and_the_hint_says_size_tells_them_apart(target, seen):
    assert CASE_PAIRS[target] == seen
    v = grade_practice(verdict(target, True, 0.95, seen), top((seen, 0.9), (target, 0.05)))
    assert v.correct and v.looked_like == seen and "size" in v.hint


def test_a_round_zero_and_a_plain_bar_are_good_and_the_hint_says_what_tells_the_twins_apart():
    v = grade_practice(verdict("0", True, 0.97, "O"), top(("O", 0.9), ("0", 0.05)))
    assert v.correct and v.hint.startswith("a good 0") and "narrower than an O" in v.hint
    v = grade_practice(verdict("1", True, 0.9, "l"), top(("l", 0.8), ("1", 0.1)))
    assert v.correct and "flag at the top" in v.hint
    assert {"O", "0"} <= lookalikes("o") and {"1", "I"} <= lookalikes("l")


def test_a_prediction_without_its_target_is_judged_by_the_same_rule_on_its_top_labels():
    j = judgement_from_top("0", top(("o", 0.6), ("O", 0.3), ("8", 0.05)))
    assert j.correct and j.looked_like == "o" and j.p_shape == pytest.approx(0.9)
    j = judgement_from_top("A", top(("4", 0.9), ("A", 0.05)))
    assert not j.correct and j.looked_like == "4"


def test_free_mode_hints_only_when_unsure():
    assert free_hint(top(("3", 0.95), ("8", 0.03))) is None
    assert free_hint(top(("c", 0.5), ("C", 0.45))) is None  # case twins are one shape: not ambiguous
    amb = free_hint(top(("4", 0.48), ("9", 0.44)))
    assert amb.looked_like == "9" and "could be a 4 or a 9" in amb.hint and "keep the top open" in amb.hint
    low = free_hint(top(("k", 0.3), ("R", 0.1)), Thresholds(low_confidence=0.6, ambiguity_margin=0.15))
    assert low.hint.startswith("not sure that is a k")
    assert free_hint([]) is None
    shape = free_hint(top(("o", 0.5), ("0", 0.3), ("O", 0.15)), shape={"labels": ["o", "0", "O"], "p": 0.95})
    assert shape.hint == "that shape is o, 0 or O: on a line, size and width tell them apart."
    assert shape.confidence == 0.95


@pytest.fixture
def store(settings):
    s = open_store(settings, "sqlite://")
    yield s
    s.close()


def attempt(store, job, correct, target="4", learner="ann"):
    return store.record_attempt(
        job_id=job, learner=learner, target=target, predicted=target if correct else "9", confidence=0.9,
        correct=correct, ink=INK, latency_ms=12.0, model="m",
    )  # fmt: skip


def test_the_store_records_attempts_once_counts_streaks_and_stats(store):
    assert attempt(store, "j1", False) == (1, 0)
    assert attempt(store, "j2", True) == (2, 1)
    assert attempt(store, "j3", True) == (3, 2)
    assert attempt(store, "j3", True) == (3, 2)  # a redelivered prediction records nothing new
    attempt(store, "j4", False, target="q")
    s = store.stats("ann")
    assert (s["attempts"], s["correct"], s["streak"], s["best_streak"]) == (4, 2, 0, 2)
    assert {m["char"] for m in s["most_missed"]} == {"4", "q"}
    assert s["days"][0]["attempts"] == 4 and store.stats("bob")["attempts"] == 0


def test_corrections_export_in_the_training_data_format(store):
    assert store.correct_latest("ann", "q") is None
    attempt(store, "j1", False)
    _cid, att = store.correct_latest("ann", "q")
    assert att.id == 1
    rows = list(store.corrections())
    assert rows == [{"label": "q", "writer": "inkbus/ann", "strokes": INK["strokes"]}]
    assert store.forget("ann") == 2 and list(store.corrections()) == []


def prediction(meta, labels=(("9", 0.8), ("4", 0.1))):
    return {
        "type": "prediction", "job_id": "job-1", "reply_to": "edge-1", "top": top(*labels), "model": "inknet-x",
        "created_at": 100.0, "produced_at": 100.012, "meta": meta, "seq": 1,
    }  # fmt: skip


def test_the_engine_grades_practice_records_it_and_addresses_the_edge(settings, store):
    engine = FeedbackEngine(settings, store, url="memory://")
    meta = {"sid": "s1", "mode": "practice", "target": "4", "learner": "ann", "ink": INK, "source": "practice"}
    practice = {"target": "4", "correct": False, "score": 0.11, "p_shape": 0.1, "looked_like": "9", "rule": "r"}
    [(rk, body)] = engine.handle({**prediction(meta), "practice": practice})
    assert rk == "feedback.edge-1"
    ev = FeedbackEvent.model_validate(body)
    assert (ev.correct, ev.looked_like, ev.streak, ev.attempt_id, ev.learner) == (False, "9", 0, 1, "ann")
    assert ev.hint == "your 4 looks like a 9: keep the top open." and ev.latency_ms == pytest.approx(12.0)
    assert "ink" not in ev.meta and ev.meta["sid"] == "s1"
    [(_, body)] = engine.handle({**prediction(meta, (("4", 0.9),)), "job_id": "job-2"})
    assert body["correct"] and body["streak"] == 1 and store.stats("ann")["attempts"] == 2
    # The worker's verdict wins over the top labels: it saw the whole probability vector.
    yes = {**practice, "correct": True, "looked_like": None, "p_shape": 0.7}
    [(_, body)] = engine.handle({**prediction(meta), "job_id": "job-3", "practice": yes})
    assert body["correct"] and body["confidence"] == 0.7


def test_the_engine_hints_free_drawing_ignores_http_and_alerts_on_worker_failures(settings, store):
    engine = FeedbackEngine(settings, store, url="memory://")
    [(rk, body)] = engine.handle(prediction({"sid": "s", "source": "socket", "seq": 3}, (("4", 0.5), ("9", 0.45))))
    assert rk == "feedback.edge-1" and body["mode"] == "free" and body["meta"]["seq"] == 3
    assert engine.handle(prediction({"sid": "s", "source": "socket"}, (("4", 0.99),))) == []  # sure: quiet
    assert engine.handle(prediction({"source": "http"})) == []
    assert engine.handle(prediction({"mode": "practice", "target": "%%"})) == []
    assert engine.handle({"type": "error", "code": "empty_ink", "message": "x"}) == []
    [(rk, alert)] = engine.handle({"type": "error", "code": "internal_error", "message": "boom"})
    assert rk == "alert.ops" and alert["level"] == "error" and alert["text"] == "boom"
    assert engine.handle("garbage") == []
