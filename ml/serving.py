"""What every serving runtime shares, without torch: features from ink, calibration, top-k, the device choice.

``ml.recognizer.Recognizer`` (TorchScript) and ``ml.onnx_serving.OnnxRecognizer`` (ONNX Runtime) both build on
``BaseRecognizer``; ``open_recognizer`` picks one from ``INKBUS_RUNTIME``. Only the forward pass differs, so the
worker, ``inkbus run`` and ``inkbus recognize`` answer the same whichever runtime serves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ml.artifact import second_takes
from ml.metadata import IMAGE_SIZE
from ml.practice import Rule, calibrated
from ml.raster import render_batch
from ml.sequence import SEQ_CHANNELS, SEQ_LEN, sequence_batch

if TYPE_CHECKING:
    from foundation.settings import Settings

# How each input an artifact can declare is made from validated inks (ml/artifact.py checks the names).
FEATURES = {"image": render_batch, "sequence": sequence_batch}
DEVICES = ("auto", "cpu", "cuda")


class DeviceError(RuntimeError):
    """The configured device cannot be used (``cuda`` asked for where no GPU is visible)."""


def resolve_device(choice: str, cuda_available: Callable[[], bool]) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without one is refused, not degraded:
    a GPU worker that silently ran on its node's CPU would be sized (batch limit, replicas) for the wrong device."""
    if choice not in DEVICES:
        raise DeviceError(f"unknown device {choice!r}: use one of {', '.join(DEVICES)}")
    if choice == "auto":
        return "cuda" if cuda_available() else "cpu"
    if choice == "cuda" and not cuda_available():
        raise DeviceError(
            "INKBUS_DEVICE=cuda but no CUDA GPU is visible to this process "
            "(no NVIDIA driver or device, or a CPU-only build of the runtime); use auto or cpu"
        )
    return choice


def check_device(runtime: str, choice: str) -> str:
    """The device ``choice`` resolves to for ``runtime``, or ``DeviceError``: run before a long start-up."""
    if runtime == "onnx":
        from ml.onnx_serving import onnx_device

        return onnx_device(choice)
    from ml.recognizer import torch_device

    return torch_device(choice)


def model_inputs(names: tuple[str, ...], inks: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The arrays a model declaring ``names`` takes, in that order, for validated inks."""
    return [FEATURES[name](inks) for name in names]


def blank_inputs(names: tuple[str, ...], n: int) -> list[np.ndarray]:
    """All-zero inputs of batch size ``n``: start-up warm-up and export tracing."""
    shapes = {
        "image": ((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
        "sequence": ((n, SEQ_LEN, SEQ_CHANNELS), np.float32),
    }
    return [np.zeros(*shapes[name]) for name in names]


def temperature_of(meta: dict) -> float:
    """The artifact's temperature (1.0 before it was calibrated); probabilities are softmax(logits / T)."""
    cal = meta.get("calibration")
    cal = cal if isinstance(cal, dict) else {}
    t = float(cal.get("temperature", 1.0))
    if not 0.05 <= t <= 20:
        raise ValueError(f"implausible calibration temperature {t}")
    return t


def cascade_threshold(meta: dict) -> float | None:
    """A cascade artifact's threshold (``ml/training/cascade.py``), or None for a single forward pass."""
    cascade = meta.get("cascade")
    if cascade is None:
        return None
    t = float(cascade.get("threshold", -1)) if isinstance(cascade, dict) else -1.0
    if not 0 < t <= 1:
        raise ValueError(f"implausible cascade threshold {t}")
    return t


def cascade_join(first: np.ndarray, second: np.ndarray, log_threshold: float) -> np.ndarray:
    """Per row, the first stage's log-probabilities where it is sure, else the second's: the cascade's
    ``forward``, for runtimes that run the stages themselves."""
    return np.where(first.max(axis=1, keepdims=True) >= log_threshold, first, second)


@dataclass(frozen=True)
class BatchResult:
    probs: np.ndarray  # (N, classes), float32
    render_ms: float  # whole batch: rendering, plus the pen-path features when the model takes them
    inference_ms: float  # whole batch


class BaseRecognizer:
    """Subclasses set ``classes``, ``version``, ``inputs``, ``meta``, ``device`` and implement ``probabilities``."""

    classes: tuple[str, ...]
    version: str
    inputs: tuple[str, ...]
    meta: dict
    device: str = "cpu"
    runtime: str = "?"

    def _read_meta(self) -> None:
        # Calibration and the practice rule travel in the artifact (``inkbus calibrate`` fits both).
        self.temperature = temperature_of(self.meta)
        self.rule = Rule.from_meta(self.meta)
        threshold = cascade_threshold(self.meta)
        self.log_threshold = None if threshold is None else math.log(threshold)
        self.second_takes = second_takes(self.meta)

    def _warm_up(self) -> None:
        # Runtimes specialise on the first calls; pay that at start-up, not on a user's first stroke.
        for n in (1, 2, 8, 1):
            self.probabilities(*blank_inputs(self.inputs, n))
            if self.log_threshold is not None:
                first = self.first_logp(*blank_inputs(("sequence",), n))
                images, seq = blank_inputs(("image", "sequence"), n)
                self.second_logp(images, first if self.second_takes == "first" else seq)

    def probabilities(self, *inputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def first_logp(self, seq: np.ndarray) -> np.ndarray:
        """A cascade's first stage: calibrated log-probabilities from the pen path alone."""
        raise NotImplementedError

    def second_logp(self, images: np.ndarray, other: np.ndarray) -> np.ndarray:
        """A cascade's second stage: the ensemble's calibrated log-probabilities, from the images and ``other``:
        the pen path, or the first stage's log-probabilities of the same rows (``second_takes``)."""
        raise NotImplementedError

    def _recognize_cascade(self, inks: list[list[np.ndarray]]) -> BatchResult:
        # Render only the drawings the first stage is unsure of: rendering and the image network are most of
        # the ensemble's cost. Equal, row for row, to the artifact's forward over every drawing (tested).
        t0 = time.perf_counter()
        seq = FEATURES["sequence"](inks)
        t1 = time.perf_counter()
        out = self.first_logp(seq)
        rest = np.flatnonzero(~(out.max(axis=1) >= self.log_threshold))  # as forward decides: NaN is not sure
        t2 = time.perf_counter()
        images = FEATURES["image"]([inks[i] for i in rest]) if len(rest) else None
        t3 = time.perf_counter()
        if images is not None:
            out[rest] = self.second_logp(images, out[rest] if self.second_takes == "first" else seq[rest])
        probs = calibrated(out, self.temperature).astype(np.float32, copy=False)
        t4 = time.perf_counter()
        return BatchResult(probs, (t1 - t0 + t3 - t2) * 1000, (t2 - t1 + t4 - t3) * 1000)

    def recognize(self, inks: list[list[np.ndarray]]) -> BatchResult:
        """Calibrated class probabilities for validated inks (see ``ml.ink.validate_ink``)."""
        if self.log_threshold is not None and len(inks):
            return self._recognize_cascade(inks)
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


def open_recognizer(
    settings: Settings, threads: int | None = None, device: str | None = None, path: str | Path | None = None
) -> BaseRecognizer:
    """The recogniser ``settings`` ask for: runtime (torch or onnx), device, threads (default: the worker's), on
    ``path`` or else the runtime's configured file (``model_path`` or ``onnx_model_path``)."""
    threads = settings.torch_threads if threads is None else threads
    device = device or settings.device
    if settings.runtime == "onnx":
        from ml.onnx_serving import OnnxRecognizer  # no torch on this path

        return OnnxRecognizer(path or settings.onnx_model_path, threads=threads, device=device)
    try:
        from ml.recognizer import Recognizer
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        from ml.artifact import ArtifactError

        raise ArtifactError(
            "INKBUS_RUNTIME=torch needs torch (pip install 'inkbus[torch]'); without it set INKBUS_RUNTIME=onnx"
        ) from exc
    return Recognizer(path or settings.model_path, threads, device=device)
