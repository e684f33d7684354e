"""Serving-side recognition: validated ink -> rendered batch -> one forward pass -> top-k.

The worker, the CLI and the in-process benchmark all call ``Recognizer.recognize``: one code path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.artifact import load_artifact
from ml.metadata import IMAGE_SIZE
from ml.practice import Rule
from ml.raster import render_batch
from ml.sequence import SEQ_CHANNELS, SEQ_LEN, sequence_batch

# How each input an artifact can declare is made from validated inks (ml/artifact.py checks the names).
FEATURES = {"image": render_batch, "sequence": sequence_batch}


def model_inputs(names: tuple[str, ...], inks: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The arrays a model declaring ``names`` takes, in that order, for validated inks."""
    return [FEATURES[name](inks) for name in names]


def for_serving(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """The artifact's module frozen for inference: weights become constants, batch norms fold into
    the convolutions and TorchScript fuses what it can. Same outputs (to float rounding); a batch of
    32 costs about a quarter less CPU on this machine (docs/BENCHMARKS.md). Training and ``inkbus eval``
    keep the artifact as saved."""
    return torch.jit.optimize_for_inference(torch.jit.freeze(module.eval()))


def temperature_of(meta: dict) -> float:
    """The artifact's temperature (1.0 before it was calibrated); probabilities are softmax(logits / T)."""
    cal = meta.get("calibration")
    cal = cal if isinstance(cal, dict) else {}
    t = float(cal.get("temperature", 1.0))
    if not 0.05 <= t <= 20:
        raise ValueError(f"implausible calibration temperature {t}")
    return t


@dataclass(frozen=True)
class BatchResult:
    probs: np.ndarray  # (N, classes), float32
    render_ms: float  # whole batch: rendering, plus the pen-path features when the model takes them
    inference_ms: float  # whole batch


class Recognizer:
    def __init__(self, model_path: str | Path, torch_threads: int = 0):
        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        self.artifact = load_artifact(model_path)
        self.classes = self.artifact.classes
        self.version = self.artifact.version
        self.inputs = self.artifact.inputs
        # Calibration and the practice rule travel in the artifact (``inkbus calibrate`` fits both).
        self.temperature = temperature_of(self.artifact.meta)
        self.rule = Rule.from_meta(self.artifact.meta)
        self.module = for_serving(self.artifact.module)
        # TorchScript specialises on the first calls; pay that at start-up, not on a user's first stroke.
        for n in (1, 2, 8, 1):
            self.probabilities(*self._blank(n))

    def _blank(self, n: int) -> list[np.ndarray]:
        shapes = {
            "image": ((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
            "sequence": ((n, SEQ_LEN, SEQ_CHANNELS), np.float32),
        }
        return [np.zeros(*shapes[name]) for name in self.inputs]

    @torch.inference_mode()
    def probabilities(self, *inputs: np.ndarray) -> np.ndarray:
        logits = self.module(*(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs))
        return torch.softmax(logits / self.temperature, dim=1).numpy()

    def recognize(self, inks: list[list[np.ndarray]]) -> BatchResult:
        """Calibrated class probabilities for validated inks (see ``ml.ink.validate_ink``)."""
        t0 = time.perf_counter()
        inputs = model_inputs(self.inputs, inks) if len(inks) else []
        t1 = time.perf_counter()
        probs = self.probabilities(*inputs) if len(inks) else np.zeros((0, len(self.classes)), np.float32)
        t2 = time.perf_counter()
        return BatchResult(probs, (t1 - t0) * 1000, (t2 - t1) * 1000)

    def top(self, probs: np.ndarray, k: int) -> list[dict]:
        """The k most probable labels of one probability row, most probable first."""
        k = max(1, min(k, len(self.classes)))
        idx = np.argpartition(-probs, k - 1)[:k] if k < len(probs) else np.arange(len(probs))
        idx = idx[np.argsort(-probs[idx], kind="stable")]
        return [{"label": self.classes[i], "p": round(float(probs[i]), 6)} for i in idx]
