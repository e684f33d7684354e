"""Distillation: a cheaper model learns from a served artifact's probabilities as well as from the labels.

The teacher (typically the image + pen-path ensemble) is run once over the clean training ink, before the
first epoch; each soft target is ``weight`` x the teacher's probabilities + (1 - weight) x the one-hot label.
The student then sees augmented ink against its clean ink's target: running the teacher on every augmented
batch would render each one and cost several times the student's own step on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ml.artifact import load_artifact
from ml.metadata import NUM_CLASSES
from ml.serving import model_inputs


@torch.no_grad()
def teacher_probabilities(path: Path, inks: list, batch_size: int = 512) -> tuple[np.ndarray, str]:
    """The artifact's probabilities (N, classes) for each ink, and its version."""
    art = load_artifact(path)
    out = []
    for start in range(0, len(inks), batch_size):
        inputs = model_inputs(art.inputs, inks[start : start + batch_size])
        logits = art.module(*(torch.from_numpy(x) for x in inputs))
        out.append(torch.softmax(logits.float(), dim=1).numpy())
    probs = np.concatenate(out) if out else np.zeros((0, NUM_CLASSES), np.float32)
    return probs.astype(np.float32), art.version


def soft_targets(path: Path, inks: list, labels: np.ndarray, weight: float) -> tuple[np.ndarray, dict]:
    """Per-sample soft targets and what the artifact's metadata records about the teacher."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the teacher's weight must be within 0..1, got {weight}")
    probs, version = teacher_probabilities(Path(path), inks)
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    agrees = float((probs.argmax(1) == labels).mean()) if len(labels) else float("nan")
    targets = weight * probs + (1.0 - weight) * onehot
    return targets.astype(np.float32), {"version": version, "weight": weight, "train_top1": round(agrees, 4)}
