import numpy as np
import pytest

from ml.metadata import CLASS_INDEX, NUM_CLASSES
from ml.training import metrics as M


def onehot_probs(preds: list[str], runner_up: list[str] | None = None) -> np.ndarray:
    """Probability rows putting 0.6 on ``preds[i]`` and 0.3 on ``runner_up[i]`` (rest spread evenly)."""
    p = np.full((len(preds), NUM_CLASSES), 0.1 / (NUM_CLASSES - 2))
    for i, c in enumerate(preds):
        p[i, CLASS_INDEX[c]] = 0.6
        if runner_up:
            p[i, CLASS_INDEX[runner_up[i]]] = 0.3
    return p


def labels(chars: str) -> np.ndarray:
    return np.array([CLASS_INDEX[c] for c in chars])


def test_within_category_restricts_the_choice_to_the_true_category():
    # "0" predicted as "O" is wrong 62-way, but among digits the runner-up "0" wins.
    probs = onehot_probs(["O", "7", "B", "a", "b"], runner_up=["0", "1", "8", "A", "c"])
    y = labels("07Bad")
    w = M.within_category_accuracy(probs, y)
    assert w == {"digits": 1.0, "upper": 1.0, "lower": 0.5}
    assert M.accuracy(probs, y) == pytest.approx(3 / 5)


def test_within_category_is_nan_without_samples():
    w = M.within_category_accuracy(onehot_probs(["1"]), labels("1"))
    assert w["digits"] == 1.0 and np.isnan(w["upper"]) and np.isnan(w["lower"])


def test_case_folding_only_merges_the_fifteen_look_alikes():
    probs = onehot_probs(["O", "c", "a", "L", "0"])
    y = labels("oCAlO")  # o/O and c/C and l/L fold; a/A does not; 0 vs O is still a mistake
    assert M.case_folded_accuracy(probs, y) == pytest.approx(3 / 5)
    f = M.fold_map()
    assert f[CLASS_INDEX["z"]] == CLASS_INDEX["Z"] and f[CLASS_INDEX["a"]] == CLASS_INDEX["a"]
    assert (f != np.arange(NUM_CLASSES)).sum() == 15


def test_topk():
    probs = onehot_probs(["a", "b"], runner_up=["x", "y"])
    assert M.topk_accuracy(probs, labels("xz"), 1) == 0.0
    assert M.topk_accuracy(probs, labels("xz"), 2) == 0.5
    assert M.topk_accuracy(probs, labels("az"), 62) == 1.0


def test_confusions_and_per_class():
    y = labels("oooO1")
    pred = labels("oOOO1")
    cm = M.confusion_matrix(y, pred)
    assert cm.sum() == 5 and cm[CLASS_INDEX["o"], CLASS_INDEX["O"]] == 2
    assert M.worst_confusions(y, pred, k=3) == [("o", "O", 2)]
    pc = M.per_class_accuracy(onehot_probs(list("oOOO1")), y)
    assert pc["o"] == (pytest.approx(1 / 3), 3) and pc["1"] == (1.0, 1) and "a" not in pc


def test_ece_of_calibrated_and_overconfident_models():
    y = np.zeros(10, dtype=int)
    p = np.zeros((10, NUM_CLASSES))
    p[:, 0] = 1.0  # confident and right
    assert M.expected_calibration_error(p, y) == pytest.approx(0.0)
    p2 = np.zeros((10, NUM_CLASSES))
    p2[:, 1] = 0.9
    p2[:, 0] = 0.1  # 90 % sure, always wrong
    assert M.expected_calibration_error(p2, y) == pytest.approx(0.9)


def test_summary_has_every_headline_figure():
    s = M.summary(onehot_probs(["a", "1"]), labels("a1"))
    assert {"within_digits", "within_upper", "within_lower", "case_folded_top1", "exact_top1", "top3", "ece"} <= set(s)
    assert s["samples"] == 2
