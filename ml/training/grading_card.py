"""The model card's learner-facing section: calibration, practice grading figures and the rule's curve."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ml.metadata import CLASSES
from ml.practice import RULE_KINDS, Rule
from ml.training import metrics
from ml.training.grading_metrics import curve, figures, top1_figures

CURVE_THRESHOLDS = np.round(np.arange(0.02, 1.0, 0.02), 2)
# Learner-facing targets on writer-disjoint validation: (key, label, limit), all "at most".
GRADING_TARGETS = [
    ("false_rejection", "False rejection, all characters", 0.03),
    ("worst_char_rejection", "False rejection, worst single character", 0.10),
    ("false_acceptance_random", "False acceptance, random other target", 0.005),
    ("false_acceptance_hardest", "False acceptance, hardest other target", 0.08),
]
ECE_TARGET = 0.03


def grading_report(probs: np.ndarray, raw: np.ndarray, y: np.ndarray, meta: dict) -> dict:
    """Everything the card and the summary line say about calibration and practice grading."""
    rule = Rule.from_meta(meta)
    return {
        "rule": rule.to_dict(),
        "fitted": meta.get("grading", {}),
        "calibration": meta.get("calibration", {}),
        "ece_before": metrics.expected_calibration_error(raw, y),
        "ece_after": metrics.expected_calibration_error(probs, y),
        "chosen": figures(probs, y, rule),
        "top1": top1_figures(probs, y),
        "curves": {k: curve(probs, y, k, CURVE_THRESHOLDS) for k in RULE_KINDS},
    }


def plot_curve(g: dict, path: Path) -> None:
    """False rejection against hardest-target false acceptance for every candidate rule, the chosen one marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=90)
    for kind, fs in g["curves"].items():
        xs = [100 * f["false_acceptance_hardest"] for f in fs]
        ax.plot(xs, [100 * f["false_rejection"] for f in fs], marker=".", label=f"{kind} >= threshold")
    t1 = g["top1"]
    ax.plot(100 * t1["false_acceptance_hardest"], 100 * t1["false_rejection"], "s", label="top label = target")
    c = g["chosen"]
    ax.plot(100 * c["false_acceptance_hardest"], 100 * c["false_rejection"], "r*", ms=16, label="chosen")
    ax.axvline(8, color="grey", ls=":", lw=1)
    ax.axhline(3, color="grey", ls=":", lw=1)
    ax.set_xlabel("false acceptance, hardest other target (%)")
    ax.set_ylabel("false rejection (%)")
    ax.set_xlim(0, 30)
    ax.set_ylim(0, 20)
    ax.set_title("Practice grading on writer-disjoint validation")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def pct(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f} %"


def per_class_columns(head: list[str], rows: list[list[str]]) -> list[str]:
    """One row per class, as three side-by-side column groups: 62 classes in 21 lines."""
    third = math.ceil(len(rows) / 3)
    lines = ["".join(f"| {h} " for h in head) * 3 + "|", ("|---" + "|---:" * (len(head) - 1)) * 3 + "|"]
    for r in range(third):
        group = [rows[r + k * third] for k in range(3) if r + k * third < len(rows)]
        lines.append("".join("".join(f"| {cell} " for cell in row) for row in group) + "|")
    return lines


def grading_lines(g: dict, figure: str) -> list[str]:
    c, cal, fit = g["chosen"], g["calibration"], g["fitted"]
    rule = f"`{c['rule']['kind']} >= {c['rule']['threshold']:g}`"
    ece_met = "yes" if g["ece_after"] <= ECE_TARGET else "**no**"
    lines = [
        "## Calibration and practice grading (what a learner meets)",
        "",
        f"- Calibration: temperature scaling, T = {cal.get('temperature', 1.0)}, fitted on "
        f"{cal.get('fitted_on', {}).get('samples', 0):,} samples of {cal.get('fitted_on', {}).get('writers', 0)} "
        "calibration writers (held out of training; not the validation writers). Expected calibration error on "
        f"validation: {g['ece_before']:.4f} before, **{g['ece_after']:.4f} after** (target ≤ {ECE_TARGET}: {ece_met}).",
        f"- Practice rule {rule} (`ml/practice.py`): {fit.get('procedure', 'the default rule')}. The target's "
        "same-shape twins (the 15 case twins, `0 o O`, `1 l I`) count as the target's shape.",
        "- False rejection: the learner draws the target and is told it is not; false acceptance: the drawing "
        "passes for another character's target, either a random one of another shape or the hardest one (the "
        "model's most probable character of another shape).",
        "",
        "| Measure (validation writers) | Result | Target | Met |",
        "|---|---:|---:|:---:|",
    ]
    for key, label, limit in GRADING_TARGETS:
        met = "yes" if c[key] <= limit else "**no**"
        lines.append(f"| {label} | {pct(c[key])} | ≤ {100 * limit:g} % | {met} |")
    cats = ", ".join(f"{k} {pct(v)}" for k, v in c["false_rejection_by_category"].items())
    t1 = g["top1"]
    worst = sorted(c["false_rejection_by_char"].items(), key=lambda kv: -kv[1])[:10]
    lines += [
        "",
        f"- False rejection by category: {cats}. Worst characters: "
        + ", ".join(f"`{ch}` {pct(v)}" for ch, v in worst)
        + ".",
        f'- Reference, "correct only when the top label is the target": false rejection {pct(t1["false_rejection"])}, '
        f"false acceptance {pct(t1['false_acceptance_random'])} random / {pct(t1['false_acceptance_hardest'])} "
        "hardest.",
        "",
        f"![false rejection against false acceptance]({figure})",
        "",
        "False rejection per character:",
        "",
        *_per_char_table(c["false_rejection_by_char"]),
        "",
    ]
    return lines


def _per_char_table(per_char: dict) -> list[str]:
    return per_class_columns(["char", "rejected"], [[f"`{ch}`", pct(per_char.get(ch, float("nan")))] for ch in CLASSES])
