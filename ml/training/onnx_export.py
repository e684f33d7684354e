"""``inkbus export-onnx``: the TorchScript artifact -> an ONNX file that ONNX Runtime serves without torch.

Exported with torch's TorchScript-based exporter, straight from the artifact's ScriptModule: it works for every
artifact this project makes (one CNN, an ensemble of CNN and pen-path nets) without rebuilding the training
classes. Torch calls that exporter legacy (the default is now the torch.export-based one, which needs the
eager modules): rebuilding ``InkEnsemble`` from the artifact's state dict and exporting with ``dynamo=True``
gives the same outputs (to 4e-6 on the shipped ensemble) should the legacy exporter go.

The artifact's ``inkbus.json`` travels in the ONNX file's ``metadata_props``, so the ONNX file alone is a
serving artifact: classes, preprocessing, calibration and the practice rule.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from ml.artifact import META_NAME, load_artifact
from ml.serving import blank_inputs

OPSET = 17


def _set_meta(model: onnx.ModelProto, meta: dict) -> None:
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = META_NAME, json.dumps(meta, sort_keys=True)


def _trace_to_onnx(module: torch.jit.ScriptModule, inputs: tuple[str, ...], path: Path) -> None:
    example = tuple(torch.from_numpy(x) for x in blank_inputs(inputs, 2))
    axes = {name: {0: "batch"} for name in (*inputs, "logits")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notice that it is the legacy one (see above)
        torch.onnx.export(
            module,
            example,
            str(path),
            dynamo=False,
            input_names=list(inputs),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
        )


def export_onnx(model_path: Path, out: Path, int8: bool = False) -> dict:
    """Write ``out`` (fp32, or int8 dynamic quantisation of the weights) and return its metadata."""
    art = load_artifact(model_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    _trace_to_onnx(art.module.eval(), art.inputs, tmp)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        fp32 = tmp.with_suffix(".fp32")
        tmp.replace(fp32)
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        fp32.unlink()
    model = onnx.load(str(tmp))
    onnx.checker.check_model(model)
    meta = {**art.meta, "onnx": {"opset": OPSET, "weights": "int8-dynamic" if int8 else "fp32"}}
    _set_meta(model, meta)
    onnx.save(model, str(tmp))
    tmp.replace(out)  # atomic, as for the TorchScript artifact
    return meta


def max_difference(model_path: Path, onnx_path: Path, inks: list[list[np.ndarray]]) -> float:
    """Largest absolute difference of logits between the TorchScript artifact and the ONNX file on ``inks``."""
    from ml.onnx_serving import OnnxRecognizer
    from ml.serving import model_inputs

    art = load_artifact(model_path)
    served = OnnxRecognizer(onnx_path, threads=1)
    inputs = model_inputs(art.inputs, inks)
    with torch.inference_mode():
        ref = art.module(*(torch.from_numpy(x) for x in inputs)).numpy()
    return float(np.abs(served.logits(*inputs) - ref).max())
