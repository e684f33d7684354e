"""The model card (docs/MODEL_CARD.md) and its confusion-matrix figure, from an evaluation report."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from ml.metadata import CASE_FOLDED, CLASSES, PREPROCESSING_VERSION
from ml.training.grading_card import grading_lines, pct, per_class_columns, plot_curve

# The targets on writer-disjoint validation (name in the report, label, threshold).
TARGETS = [
    (("val", "within_digits"), "Digits, within-category", 0.993),
    (("val", "within_upper"), "Upper case, within-category", 0.97),
    (("val", "within_lower"), "Lower case, within-category", 0.94),
    (("val", "case_folded_top1"), "62-way top-1, case-folded", 0.92),
    (("mnist", "within_digits"), "MNIST test", 0.995),
]


def plot_confusion(cm: np.ndarray, path: Path) -> None:
    """Row-normalised confusion matrix on a log colour scale, so rare mistakes stay visible."""
    import matplotlib

    matplotlib.use("Agg")  # headless: CI and workers have no display
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    rows = cm.sum(1, keepdims=True)
    norm = np.where(rows > 0, cm / np.maximum(rows, 1), 0.0)
    fig, ax = plt.subplots(figsize=(11, 10), dpi=80)
    im = ax.imshow(np.where(norm > 0, norm, np.nan), cmap="viridis", norm=LogNorm(vmin=1e-3, vmax=1))
    ticks = np.arange(len(CLASSES))
    ax.set_xticks(ticks, CLASSES, fontsize=7)
    ax.set_yticks(ticks, CLASSES, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("UNIPEN writer-disjoint validation, row-normalised")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _shown(path: str) -> str:
    """A path inside the checkout is shown relative to it: the card is committed."""
    from foundation.settings import REPO_ROOT

    p = Path(path).resolve()
    return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(path)


def _get(report: dict, key: tuple[str, str]) -> float:
    return report[key[0]][key[1]]


def _pen_path_only(meta: dict) -> bool:
    return list(meta.get("inputs", ["image"])) == ["sequence"]


def _targets_table(report: dict) -> list[str]:
    lines = ["| Measure | Result | Target | Met |", "|---|---:|---:|:---:|"]
    for key, label, target in TARGETS:
        v = _get(report, key)
        if math.isnan(v) and key[0] == "mnist" and _pen_path_only(report["meta"]):
            lines.append(f"| {label} | – | ≥ {100 * target:.1f} % | n/a: MNIST images have no pen path |")
            continue
        met = "yes" if not math.isnan(v) and v >= target else "**no**"
        lines.append(f"| {label} | {pct(v)} | ≥ {100 * target:.1f} % | {met} |")
    return lines


def _per_class_table(per_class: dict) -> list[str]:
    rows = [(c, *per_class.get(c, (float("nan"), 0))) for c in CLASSES]
    return per_class_columns(["class", "acc", "n"], [[f"`{c}`", pct(a), str(n)] for c, a, n in rows])


def _history_table(history: list[dict]) -> list[str]:
    lines = ["| epoch | minutes | case-folded | exact | MNIST |", "|---:|---:|---:|---:|---:|"]
    for h in history:
        cf = h.get("val_case_folded_top1")
        ex = h.get("val_exact_top1", h.get("unipen_val_top1"))
        lines.append(f"| {h['epoch']} | {h['minutes']:.1f} | {pct(cf)} | {pct(ex)} | {pct(h.get('mnist_test_top1'))} |")
    return lines


def _latency_row(lat: dict, b: int) -> str:
    cells = (lat[f"batch{b}_ms"], lat[f"batch{b}_render_ms"], lat[f"batch{b}_model_ms"])
    return f"| {b} | " + " | ".join(f"{c:.3f} ms" for c in cells) + " |"


def _trained_line(meta: dict) -> str:
    cfg = meta.get("config", {})
    start = cfg.get("init_from") not in (None, "None")
    return (
        f"`{meta.get('command', 'unknown')}` in {meta.get('train_minutes', 'unknown')} minutes "
        f"on {meta.get('device', cfg.get('device', 'cpu'))}; seed {cfg.get('seed', '?')}"
        + (f"; starting from the weights of `{cfg['init_from']}`." if start else ".")
    )


def _teacher_lines(teacher, lead: str) -> list[str]:
    if not isinstance(teacher, dict):
        return []
    return [
        f"{lead} from `{teacher.get('version')}`: each training target is {teacher.get('weight')} × the "
        f"teacher's probabilities on the clean training ink + {1 - float(teacher.get('weight', 0)):.2f} × the "
        f"label (the teacher agrees with the labels on {pct(teacher.get('train_top1'))} of that ink)."
    ]


def _sequence_lines(meta: dict) -> list[str]:
    lines = [
        f"- Input: the pen path resampled to {meta.get('seq_len', 64)} points by `ml/sequence.py` "
        f"(`{meta.get('sequence_version')}`: x, y, step, pen lift), a 1-D CNN of width "
        f"{meta.get('config', {}).get('width', '?')}; nothing is rendered. Output: 62 classes `{''.join(CLASSES)}`.",
    ]
    lines += _teacher_lines(meta.get("teacher"), "- Distilled")
    lines.append(f"- Trained with {_trained_line(meta)}")
    return lines


def _cascade_lines(report: dict) -> list[str]:
    meta = report["meta"]
    c = meta["cascade"]
    first, fitted = c["first"], c.get("fitted_on", {})
    where = (
        f"chosen on {fitted['samples']:,} samples of {fitted['writers']} calibration writers as the lowest threshold "
        f"at which no accuracy figure fell below the ensemble's alone; the first network answered "
        f"{pct(fitted['answered_first'])} of them alone"
        if "answered_first" in fitted
        else f"kept from `{fitted['from_parent']}`, which it was fine-tuned from"
        if "from_parent" in fitted
        else "given on the command line"
    )
    share = report.get("answered_first")
    on_val = f" On the validation writers the pen-path network answered {pct(share)} alone." if share else ""
    lines = [
        f"- A cascade: a pen-path network answers alone when its calibrated top probability is at least "
        f"{c['threshold']:g} ({where}); otherwise the ink is rendered and the ensemble `{c['second'].get('version')}` "
        f"answers. Joined by `{meta.get('command')}`.{on_val}",
    ]
    t_first = first.get("calibration", {}).get("temperature", 1.0)
    if c.get("second_takes") == "first":
        lines.append(
            f"- First stage: the ensemble's own pen-path member `{first.get('version')}` (below) with a temperature of "
            f"its own (T = {t_first}); where it is unsure, only the image CNN runs, its probabilities mixed with the "
            "member's as the ensemble mixes them: those drawings get the ensemble's answer."
        )
        return lines
    lines.append(
        f"- First stage: `{first.get('version')}`, {first.get('parameters', 0):,} parameters, the pen path resampled "
        f"to {meta.get('seq_len', 64)} points by `ml/sequence.py` (`{meta.get('sequence_version')}`), a 1-D CNN of "
        f"width {first.get('config', {}).get('width', '?')}, T = {t_first}; nothing is rendered. "
        f"Trained with {_trained_line(first)}"
    )
    return lines + _teacher_lines(first.get("teacher"), "- The first stage is distilled")


def _model_lines(meta: dict) -> list[str]:
    members = meta.get("members")
    if not members and _pen_path_only(meta):
        return _sequence_lines(meta)
    if not members:
        return [
            "- Input: ink rendered by `ml/raster.py` to 28×28 (the same code in training and serving). "
            f"Output: 62 classes `{''.join(CLASSES)}`.",
            f"- Trained with {_trained_line(meta)}",
        ]
    joined = meta.get("cascade", {}).get("second", meta).get("command")
    lines = [
        f"- An ensemble of {len(members)} models over the same ink: each family's probabilities averaged, then "
        f"mixed {meta.get('image_weight', 0.5):.2f} image / {1 - meta.get('image_weight', 0.5):.2f} sequence; "
        f"joined by `{joined}`. Output: 62 classes `{''.join(CLASSES)}`."
    ]
    for m in members:
        if m.get("kind", "image") == "image":
            what = "Image CNN, ink rendered by `ml/raster.py` to 28×28"
        else:
            what = (
                f"Stroke-sequence 1-D CNN, the pen path resampled to {meta.get('seq_len', 64)} points by "
                f"`ml/sequence.py` (`{meta.get('sequence_version')}`: x, y, step, pen lift)"
            )
        lines.append(
            f"- {what}: `{m.get('version')}`, {m.get('parameters', 0):,} parameters. Trained with {_trained_line(m)}"
        )
    return lines


def _history_tables(meta: dict) -> list[str]:
    members = meta.get("members")
    if not members:
        return _history_table(meta.get("history", []))
    out = []
    for m in members:
        out += [f"`{m.get('version')}`:", "", *_history_table(m.get("history", [])), ""]
    return out


def _image_data_line(meta: dict, data: dict) -> str:
    if _pen_path_only(meta):
        teacher = " (its teacher's image CNN learned from MNIST and EMNIST)" if meta.get("teacher") else ""
        return f"- MNIST and EMNIST are not used: the model reads the pen path, which images do not have{teacher}."
    line = (
        f"- MNIST train ({data['mnist_train']:,}) and EMNIST ByClass (the official test split, "
        f"{data['emnist']:,} images, used as training data) mixed in each epoch; MNIST test held out."
    )
    if meta.get("members"):
        line += " The stroke-sequence models train on the UNIPEN training ink only (images have no pen path)."
    return line


def _mnist_line(report: dict) -> str:
    meta, m = report["meta"], report["mnist"]
    if _pen_path_only(meta):
        return "- MNIST test: not measured; the model reads the pen path, which MNIST's images do not have."
    return (
        f"- MNIST test{' (the image CNN alone: MNIST has no pen path)' if meta.get('members') else ''}: "
        f"{pct(m['within_digits'])} among the 10 digits ({pct(m['exact_62way'])} 62-way), {m['samples']:,} images."
    )


def _preprocessing(meta: dict) -> str:
    if _pen_path_only(meta):
        return "pen-path features"
    if "cascade" in meta:
        return "pen-path features, and rendering for the drawings the first stage leaves to the ensemble"
    return "render and pen-path features" if meta.get("members") else "render"


def render_card(report: dict, figure: str, experiments: str = "") -> str:
    meta, v, lat = report["meta"], report["val"], report["latency"]
    data = report["data"]
    lines = [
        "# Model card: Inkbus recogniser",
        "",
        f"Generated by `inkbus eval` on {time.strftime('%Y-%m-%d %H:%M')} from `{_shown(report['model_path'])}`"
        + (f" (a quick card: at most {report['limit']} samples per set)." if report["limit"] else "."),
        "",
        "## The model",
        f"- Version `{meta.get('version')}`, {meta.get('parameters', 0):,} parameters, artifact "
        f"{report['artifact_bytes'] / 1e6:.2f} MB (TorchScript; class map and preprocessing "
        f"`{PREPROCESSING_VERSION}` inside).",
        *(_cascade_lines(report) if "cascade" in meta else []),
        *_model_lines(meta),
        "",
        "## Data",
        "- UNIPEN train_r01_v07 online ink (categories 1a/1b/1c), split **by writer**: "
        f"{data['ink_train']:,} training samples; validation {data['ink_val']:,} samples from {data['val_writers']} "
        "writers never seen in training. Ink is augmented before rendering (affine, jitter, point dropout, pen width).",
        _image_data_line(meta, data),
        "",
        "## Results (writer-disjoint UNIPEN validation)",
        *_targets_table(report),
        "",
        f"- Within-category: digits among the 10 digits, upper case among the 26 upper, lower case among the 26 lower "
        f"(the UNIPEN 1a/1b/1c convention). Case-folded 62-way top-1 counts `{CASE_FOLDED}` as equal to "
        "their capitals.",
        f"- 62-way exact top-1: {pct(v['exact_top1'])}; top-3: {pct(v['top3'])}; "
        f"expected calibration error (15 bins, calibrated): {v['ece']:.4f}; {v['samples']:,} samples.",
        _mnist_line(report),
        "",
        "## Inference latency on this CPU",
        f"Per sample, preprocessing ({_preprocessing(meta)}) + forward "
        "through the serving `Recognizer`: the best of three rounds' means, "
        f"{lat['torch_threads']} torch threads "
        f"({report['cpu']}, {os.cpu_count()} cores, load average {report['load']:.1f} while measuring):",
        "",
        "| batch | total | preprocess | model |",
        "|---:|---:|---:|---:|",
        *(_latency_row(lat, b) for b in (1, 64)),
        "",
        *grading_lines(report["grading"], figure.replace("_confusion.png", "_grading.png")),
        "## Confusions",
        f"![confusion matrix]({figure})",
        "",
        "Most frequent mistakes (true → predicted, count): "
        + ", ".join(f"`{t}`→`{p}` {n}" for t, p, n in report["worst"]),
        "",
        "## Per-class accuracy (62-way exact)",
        *_per_class_table(report["per_class"]),
        "",
        "## Training curve",
        *_history_tables(meta),
        "",
    ]
    if experiments:
        lines += ["## What we tried", "", experiments.strip(), ""]
    lines += [
        "## Limits",
        "- Validation writers come from the same UNIPEN contributors (tablets) as training writers; a new tablet or a "
        "finger on a phone may do worse. Case of the 15 look-alike letters cannot be told from a lone character.",
        "",
    ]
    return "\n".join(lines)


def write_card(report: dict, card: Path, experiments: str = "") -> Path:
    figure = card.with_name(card.stem.lower() + "_confusion.png")
    plot_confusion(report["confusion"], figure)
    plot_curve(report["grading"], card.with_name(card.stem.lower() + "_grading.png"))
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text(render_card(report, figure.name, experiments), encoding="utf-8")
    return card
