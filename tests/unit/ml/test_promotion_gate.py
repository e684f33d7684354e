"""The promotion gate on real models: a deliberately damaged copy of the shipped model is refused, and
the shipped model is accepted over the damaged one, on the same samples with the same bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from ml.ink import validate_ink
from ml.metadata import CLASS_INDEX, CLASSES, same_shape, shape_of
from ml.training.promote import EvalSet, gate, impostor_targets, paired_interval
from tests.helpers import sample_ink
from tests.loop_tools import damaged_copy
from tutor.chars import lookalikes


@pytest.fixture(scope="module")
def sets() -> list[EvalSet]:
    rows = sample_ink()
    inks = [validate_ink(r) for r in rows]
    y = np.array([CLASS_INDEX[r["label"]] for r in rows])
    half = len(rows) // 2  # two sets, as the gate sees them: fixed validation writers and held-out learners
    return [EvalSet("validation", inks[:half], y[:half]), EvalSet("learners", inks[half:], y[half:])]


@pytest.fixture(scope="module")
def damaged(settings, tmp_path_factory):
    return damaged_copy(settings.model_path, tmp_path_factory.mktemp("gate") / "damaged.pt", "damaged-1")


def test_a_deliberately_worse_candidate_is_refused_with_reasons(settings, sets, damaged):
    report = gate(damaged, settings.model_path, sets, bootstrap=300)
    assert report["promote"] is False
    assert report["reasons"][0].startswith("not better overall")
    assert any(r.startswith("overall:top1 worse beyond noise") for r in report["reasons"])
    f = report["figures"]["overall:top1"]
    assert f["candidate"] < f["current"] and f["interval95"][1] < 0 and f["samples"] == len(sample_ink())
    assert {"learners:false_rejection", "validation/lower:top1"} <= set(report["figures"])


def test_a_better_candidate_is_accepted(settings, sets, damaged):
    report = gate(settings.model_path, damaged, sets, bootstrap=300)
    assert report["promote"] is True, report["reasons"]
    assert report["figures"]["overall:top1"]["delta"] > 0


def test_the_same_model_is_not_better_than_itself(settings, sets):
    report = gate(settings.model_path, settings.model_path, sets, bootstrap=100)
    assert report["promote"] is False and report["reasons"] == ["not better overall: top-1 " + " -> ".join(
        [str(report["figures"]["overall:top1"]["current"])] * 2)]  # fmt: skip
    assert all(f["delta"] == 0 for f in report["figures"].values())


def test_no_evaluation_data_refuses():
    assert gate(None, None, [])["promote"] is False


def test_paired_interval_and_impostors():
    rng = np.random.default_rng(0)
    a = np.ones(200)
    resamples = rng.integers(0, 200, size=(500, 200))
    assert paired_interval(a, a, resamples) == (0.0, 0.0, 0.0)
    b = a.copy()
    b[:20] = 0  # 10% worse on every resample that draws those rows
    delta, lo, hi = paired_interval(a, b, resamples)
    assert delta == pytest.approx(-0.1) and lo < delta < hi < 0
    y = np.array([CLASS_INDEX[c] for c in "o0lc7"])
    imp = impostor_targets(y)
    for d, t in zip(y, imp, strict=True):
        drawn, asked = CLASSES[d], CLASSES[t]
        assert asked != drawn and not same_shape(asked, drawn)  # a twin asked for is no false acceptance
        others = lookalikes(drawn) - set(shape_of(drawn))
        assert asked in others or not others
