"""Serving on ONNX Runtime: the same recogniser as ``ml.recognizer`` without torch.

The ``.onnx`` file (``inkbus export-onnx``) carries the artifact's ``inkbus.json`` in its metadata
(``metadata_props``): class map, preprocessing and pen-path versions, calibration temperature and practice rule,
checked here exactly as for the TorchScript artifact. The graph takes the artifact's declared inputs by name
and returns logits; softmax(logits / T) happens in numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.artifact import META_NAME, ArtifactError, check_meta, onnx_inputs, read_meta
from ml.metadata import NUM_CLASSES
from ml.practice import calibrated
from ml.serving import BaseRecognizer, blank_inputs, cascade_join, resolve_device

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # the serving extra installs it
        raise ArtifactError("INKBUS_RUNTIME=onnx needs onnxruntime (pip install 'inkbus[serve-onnx]')") from exc
    return onnxruntime


def onnx_device(choice: str) -> str:
    """``INKBUS_DEVICE`` for ONNX Runtime: CUDA counts as present when this build has the CUDA provider."""
    return resolve_device(choice, lambda: PROVIDERS["cuda"] in _ort().get_available_providers())


def session_options(threads: int):
    ort = _ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:  # 0: the runtime's default, every core (a batch job on a machine of its own)
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return opts


class OnnxRecognizer(BaseRecognizer):
    runtime = "onnx"

    def __init__(self, model_path: str | Path, threads: int = 0, device: str = "cpu"):
        self.device = onnx_device(device)
        path = Path(model_path)
        if not path.is_file():
            raise ArtifactError(f"ONNX model not found: {path} (make it with `inkbus export-onnx`)")
        try:
            self.session = _ort().InferenceSession(
                str(path), session_options(threads), providers=[PROVIDERS[self.device]]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ArtifactError(f"cannot load ONNX model {path}: {exc}") from exc
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta = read_meta(props.get(META_NAME, ""), path)
        self.inputs = check_meta(self.meta, path)
        names = tuple(i.name for i in self.session.get_inputs())
        self.feeds = onnx_inputs(self.meta, self.inputs)
        if names != self.feeds:
            raise ArtifactError(f"ONNX model {path} takes {list(names)}, its metadata declares {list(self.inputs)}")
        self.classes = tuple(self.meta["classes"])
        self.version = str(self.meta.get("version", "unknown"))
        self._read_meta()
        # A cascade's stage not wanted in a call gets empty batches: made once, not on every recognition.
        images, other = blank_inputs(("image", "sequence"), 0)
        if self.second_takes == "first":
            other = np.zeros((0, NUM_CLASSES), np.float32)
        self._no_first, self._no_second = blank_inputs(("sequence",), 0)[0], (images, other)
        self._warm_up()

    def logits(self, *inputs: np.ndarray) -> np.ndarray:
        if self.log_threshold is not None:  # a cascade: both stages on every row, joined as its forward does
            images, seq = inputs
            first = self.first_logp(seq)
            second = self.second_logp(images, first if self.second_takes == "first" else seq)
            return cascade_join(first, second, self.log_threshold)
        feed = {name: np.ascontiguousarray(x) for name, x in zip(self.inputs, inputs, strict=True)}
        return self.session.run(None, feed)[0]

    def _stages(self, first_seq: np.ndarray, images: np.ndarray, other: np.ndarray) -> list[np.ndarray]:
        feed = zip(self.feeds, (first_seq, images, other), strict=True)
        return self.session.run(None, {name: np.ascontiguousarray(x) for name, x in feed})

    def first_logp(self, seq: np.ndarray) -> np.ndarray:
        return self._stages(seq, *self._no_second)[0]

    def second_logp(self, images: np.ndarray, other: np.ndarray) -> np.ndarray:
        return self._stages(self._no_first, images, other)[1]

    def probabilities(self, *inputs: np.ndarray) -> np.ndarray:
        return calibrated(self.logits(*inputs).astype(np.float32), self.temperature)
