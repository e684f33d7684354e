"""What ``inkbus train`` is told (``TrainConfig``) and what an architecture brings to it (``Recipe``).

Apart from ``train.py`` so that each architecture's module (``seqtrain.py``) can build a ``Recipe`` without
importing the loop that imports it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ml import metadata
from ml.training.sources import Mix


@dataclass
class TrainConfig:
    data_dir: Path
    out: Path
    checkpoint_dir: Path
    log_path: Path | None = None  # JSON lines, one record per epoch; default: beside the artifact
    epochs: int = 8
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    width: int = 32
    dropout: float = 0.3
    aug_strength: float = 1.0
    mix: Mix = field(default_factory=Mix)
    max_minutes: float = 0.0  # 0 = no limit; otherwise stop (and export) after the epoch that crosses it
    minutes: float = 0.0  # > 0: the learning rate follows wall time and training ends after this many minutes
    seed: int = 0
    device: str = "auto"
    dry_run: bool = False
    resume: bool = True
    val_fraction: float = 0.1
    calib_fraction: float = 0.1  # writers held out of training for calibration and grading thresholds
    init_from: Path | None = None  # start from these weights (an artifact or a checkpoint): fine-tuning
    arch: str = "cnn"  # "cnn": the image model; "seq": the stroke-sequence model (ml/training/seqtrain.py)
    bf16: bool = False  # bfloat16 autocast + channels-last: faster on CPUs with AMX (EXPERIMENTS.md, "Speed")
    teacher: Path | None = None  # an artifact whose probabilities the model learns from as well (distillation)
    distill_weight: float = 0.7  # the teacher's share of each soft target; the label has the rest
    version: str = field(default_factory=lambda: time.strftime("inknet-%Y%m%d-%H%M"))
    command: str = field(default_factory=lambda: " ".join(["inkbus", *sys.argv[1:]]))


@torch.no_grad()
def predict_proba(model: torch.nn.Module, images: np.ndarray, device: torch.device, bs: int = 512) -> np.ndarray:
    model.eval()
    out = [
        F.softmax(model(torch.from_numpy(images[i : i + bs]).to(device)), dim=1).cpu().numpy()
        for i in range(0, len(images), bs)
    ]
    return np.concatenate(out) if out else np.zeros((0, metadata.NUM_CLASSES), np.float32)


@dataclass
class Recipe:
    """What one architecture brings to the shared loop (``fit``); the rest is the same for all."""

    model: torch.nn.Module  # untrained; ``fit`` loads --init-from weights and moves it to the device
    steps: int  # optimiser steps per epoch
    batches: Callable[[np.random.Generator], Iterable]  # one epoch of (inputs, labels), fresh augmentation
    evaluate: Callable[[torch.nn.Module, torch.device], dict]  # validation figures after each epoch
    meta: dict = field(default_factory=dict)  # extra artifact metadata (the inputs it takes)
    channels_last: bool = False  # oneDNN's fast bf16 2-D convolutions want NHWC
