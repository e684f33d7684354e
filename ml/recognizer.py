"""Serving-side recognition with TorchScript: validated ink -> rendered batch -> one forward pass -> top-k.

The worker, the CLI and the in-process benchmark all call ``recognize`` (``ml.serving.BaseRecognizer``): one code
path. ``ml.onnx_serving`` is the same recogniser on ONNX Runtime, for serving without torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ml.artifact import load_artifact
from ml.serving import FEATURES, BaseRecognizer, BatchResult, model_inputs, resolve_device, temperature_of

__all__ = ["FEATURES", "BatchResult", "Recognizer", "for_serving", "model_inputs", "temperature_of", "torch_device"]


CASCADE_STAGES = ["first_logp", "second_logp"]


def for_serving(module: torch.jit.ScriptModule, stages: bool = False) -> torch.jit.ScriptModule:
    """The artifact's module frozen for inference: weights become constants, batch norms fold into
    the convolutions and TorchScript fuses what it can. Same outputs (to float rounding); a batch of
    32 costs about a quarter less CPU on this machine (docs/BENCHMARKS.md). Training and ``inkbus eval``
    keep the artifact as saved. ``stages``: keep a cascade's stage methods, which serving calls."""
    kept = CASCADE_STAGES if stages else None
    frozen = torch.jit.freeze(module.eval(), preserved_attrs=kept)
    return torch.jit.optimize_for_inference(frozen, other_methods=kept)


def torch_device(choice: str) -> str:
    """``INKBUS_DEVICE`` resolved for torch (``ml.serving.resolve_device``)."""
    return resolve_device(choice, torch.cuda.is_available)


class Recognizer(BaseRecognizer):
    runtime = "torch"

    def __init__(self, model_path: str | Path, torch_threads: int = 0, device: str = "cpu"):
        self.device = torch_device(device)  # first: a wrong device fails before the model is read
        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        self.artifact = load_artifact(model_path)
        self.classes = self.artifact.classes
        self.version = self.artifact.version
        self.inputs = self.artifact.inputs
        self.meta = self.artifact.meta
        self._read_meta()
        # The artifact loads on the CPU; frozen after the move, so the constants live on the device.
        self.module = for_serving(self.artifact.module.to(self.device), stages=self.log_threshold is not None)
        self._warm_up()

    def _tensors(self, inputs: tuple[np.ndarray, ...]) -> list[torch.Tensor]:
        return [torch.from_numpy(np.ascontiguousarray(x)).to(self.device) for x in inputs]

    @torch.inference_mode()
    def probabilities(self, *inputs: np.ndarray) -> np.ndarray:
        logits = self.module(*self._tensors(inputs))
        return torch.softmax(logits / self.temperature, dim=1).cpu().numpy()

    @torch.inference_mode()
    def first_logp(self, seq: np.ndarray) -> np.ndarray:
        return self.module.first_logp(*self._tensors((seq,))).cpu().numpy()

    @torch.inference_mode()
    def second_logp(self, images: np.ndarray, other: np.ndarray) -> np.ndarray:
        return self.module.second_logp(*self._tensors((images, other))).cpu().numpy()
