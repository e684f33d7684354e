"""The pen path's 1-D convolutions rewritten as 2-D ones of height 1: the same outputs from a graph ONNX Runtime
runs in its blocked layout."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the training extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the serve-onnx extra is not installed")
torch = pytest.importorskip("torch", reason="the training extra is not installed")

from ml.training.onnx_layout import lift_conv1d  # noqa: E402


class Mixed(torch.nn.Module):
    """Every case the rewrite meets: strides, dilation and odd padding, both poolings, an unfused batch norm, a
    reader that is not rewritten (Transpose), a rewritten tensor that is also a graph output, the length pooled."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv1d(5, 8, 5, padding=2)
        self.b = torch.nn.Conv1d(8, 8, 3, stride=2, dilation=2, padding=3, bias=False)
        self.norm = torch.nn.BatchNorm1d(8)
        self.c = torch.nn.Conv1d(8, 4, 1)

    def forward(self, x):
        h = torch.relu(self.a(x.transpose(1, 2)))
        h = torch.nn.functional.max_pool1d(h, 2)
        h = self.norm(self.b(h))
        side = torch.nn.functional.avg_pool1d(torch.relu(h), 3, stride=1, padding=1)
        out = self.c(side)
        return out, out.transpose(1, 2).flatten(1), torch.cat([out.mean(2), out.amax(2)], 1)


def _export(module, example) -> onnx.ModelProto:
    buf = io.BytesIO()
    names = [f"out{i}" for i in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (example,),
            buf,
            dynamo=False,
            input_names=["x"],
            output_names=names,
            dynamic_axes={"x": {0: "n"}, **{n: {0: "n"} for n in names}},
            opset_version=17,
            do_constant_folding=False,  # keep the batch norm a node of its own
        )
    return onnx.load_from_string(buf.getvalue())


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def test_a_rewritten_graph_gives_the_same_outputs_with_no_1d_convolution_left():
    torch.manual_seed(3)
    module = Mixed()
    with torch.no_grad():  # a trained-looking batch norm, not the identity
        module.norm.running_mean.uniform_(-1, 1)
        module.norm.running_var.uniform_(0.5, 2)
    model = _export(module, torch.randn(2, 32, 5))
    before = onnx.ModelProto()
    before.CopyFrom(model)
    assert "BatchNormalization" in {n.op_type for n in model.graph.node}

    assert lift_conv1d(model) == 5  # three convolutions, two poolings
    onnx.checker.check_model(model, full_check=True)
    weights = {t.name: t for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert all(len(weights[n.input[1]].dims) == 4 for n in convs)
    for batch in (1, 7):
        x = np.random.default_rng(batch).normal(size=(batch, 32, 5)).astype(np.float32)
        for got, want in zip(_run(model, x), _run(before, x), strict=True):
            assert got.shape == want.shape
            assert np.abs(got - want).max() <= 1e-5


def test_a_graph_without_1d_convolutions_is_left_as_it_was():
    model = _export(_TwoD(), torch.randn(2, 28, 28))
    before = model.SerializeToString()
    assert lift_conv1d(model) == 0
    assert model.SerializeToString() == before


class _TwoD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        h = self.conv(x.unsqueeze(1))
        return h, h.flatten(1), h.mean((2, 3))


def test_the_shipped_cascade_is_exported_with_its_pen_path_rewritten(settings, tmp_path):
    from ml.training.onnx_export import export_onnx

    meta = export_onnx(settings.model_path, tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    weights = {t.name: t for t in model.graph.initializer}
    assert meta["onnx"]["conv1d_as_2d"] > 0
    assert not [n for n in model.graph.node if n.op_type == "Conv" and len(weights[n.input[1]].dims) == 3]
