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

from ml.artifact import CASCADE_ONNX_INPUTS, CASCADE_ONNX_OUTPUTS, META_NAME, load_artifact, second_takes
from ml.metadata import NUM_CLASSES
from ml.serving import blank_inputs
from ml.training.onnx_layout import lift_conv1d

OPSET = 17


def _set_meta(model: onnx.ModelProto, meta: dict) -> None:
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = META_NAME, json.dumps(meta, sort_keys=True)


class _CascadeStages(torch.nn.Module):
    """A cascade's two stages as one graph with an input set each (``ml.artifact.CASCADE_ONNX_INPUTS``)."""

    def __init__(self, cascade: torch.jit.ScriptModule):
        super().__init__()
        self.cascade = cascade

    def forward(self, first_seq: torch.Tensor, images: torch.Tensor, other: torch.Tensor):
        return self.cascade.first_logp(first_seq), self.cascade.second_logp(images, other)


def _trace_to_onnx(module: torch.jit.ScriptModule, inputs: tuple[str, ...], path: Path, takes: str | None) -> None:
    if takes:  # a cascade: the stages' batches differ, the second sees only the rows the first was unsure of
        module = torch.jit.script(_CascadeStages(module))
        blank = blank_inputs(("sequence", "image", "sequence"), 2)
        if takes == "first":
            blank[2] = np.full((2, NUM_CLASSES), -np.log(NUM_CLASSES), np.float32)
        names, outputs = list(CASCADE_ONNX_INPUTS[takes]), list(CASCADE_ONNX_OUTPUTS)
        axes = {n: {0: "first" if i == 0 else "rest"} for i, n in enumerate(names)}
        axes |= {outputs[0]: {0: "first"}, outputs[1]: {0: "rest"}}
    else:
        blank = blank_inputs(inputs, 2)
        names, outputs = list(inputs), ["logits"]
        axes = {name: {0: "batch"} for name in (*inputs, "logits")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notice that it is the legacy one (see above)
        torch.onnx.export(
            module,
            tuple(torch.from_numpy(x) for x in blank),
            str(path),
            dynamo=False,
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
        )


def _fold_shared_weights(path: Path) -> None:
    """Rewire ``Identity`` nodes that alias an initializer to the initializer itself. The exporter writes a
    weight two modules share once, behind such aliases (a cascade whose first stage is one of its ensemble's
    members); int8 quantisation needs every convolution's weight to be an initializer."""
    model = onnx.load(str(path))
    weights = {t.name for t in model.graph.initializer}
    alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity" and n.input[0] in weights}
    if not alias:
        return
    kept = [n for n in model.graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = alias.get(name, name)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    onnx.save(model, str(path))


def _lift_pen_path(path: Path) -> int:
    """The pen-path network's 1-D convolutions as 2-D ones of height 1 (``ml.training.onnx_layout``: ONNX
    Runtime runs those in its fast blocked layout); how many were rewritten."""
    model = onnx.load(str(path))
    lifted = lift_conv1d(model)
    if lifted:
        onnx.save(model, str(path))
    return lifted


def export_onnx(model_path: Path, out: Path, int8: bool = False) -> dict:
    """Write ``out`` (fp32, or int8 dynamic quantisation of the weights) and return its metadata."""
    art = load_artifact(model_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    _trace_to_onnx(art.module.eval(), art.inputs, tmp, second_takes(art.meta) if "cascade" in art.meta else None)
    _fold_shared_weights(tmp)
    lifted = _lift_pen_path(tmp)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        fp32 = tmp.with_suffix(".fp32")
        tmp.replace(fp32)
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        fp32.unlink()
    model = onnx.load(str(tmp))
    onnx.checker.check_model(model)
    meta = {
        **art.meta,
        "onnx": {"opset": OPSET, "weights": "int8-dynamic" if int8 else "fp32", "conv1d_as_2d": lifted},
    }
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
