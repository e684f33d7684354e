"""The TorchScript recogniser on a small artifact of known weights: its device, threads, metadata, frozen module
and calibrated probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml import metadata
from ml.artifact import save_artifact
from ml.recognizer import Recognizer, for_serving, torch_device
from ml.serving import DeviceError

TEMPERATURE = 2.0


class Linear(torch.nn.Module):
    """Logits are a fixed linear map of the image (a parameter, so freezing has something to fold)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.eye(62, 28 * 28) * 0.5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().flatten(1) @ self.weight.t()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    path = tmp_path_factory.mktemp("artifact") / "linear.pt"
    meta = {"version": "linear-1", "calibration": {"temperature": TEMPERATURE}, "grading": {"kind": "shape"}}
    return save_artifact(Linear(), path, meta)


@pytest.fixture(scope="module")
def rec(artifact):
    return Recognizer(artifact)


def images() -> np.ndarray:
    x = np.zeros((2, 28, 28), np.uint8)
    x[0, 0, :4] = [2, 4, 6, 8]
    x[1, 0, 10] = 10
    return x


def test_probabilities_are_the_softmax_of_each_rows_logits_over_the_temperature(rec):
    logits = torch.from_numpy(images()).float().flatten(1) @ (torch.eye(62, 28 * 28) * 0.5).t()
    expected = torch.softmax(logits / TEMPERATURE, dim=1).numpy()
    probs = rec.probabilities(images())
    assert isinstance(probs, np.ndarray) and probs.shape == (2, 62)
    np.testing.assert_allclose(probs, expected, rtol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)


def test_probabilities_accept_a_non_contiguous_batch(rec):
    batch = np.zeros((2, 28, 28), np.uint8).transpose(0, 2, 1)
    batch[0, :, 0] = 3
    assert not batch.flags.c_contiguous
    np.testing.assert_allclose(rec.probabilities(batch), rec.probabilities(np.ascontiguousarray(batch)))


def test_the_recogniser_serves_the_artifacts_classes_version_inputs_and_rules(artifact):
    rec = Recognizer(artifact)  # built here, not shared: what the constructor reads is this test's subject
    assert rec.runtime == "torch" and rec.device == "cpu"
    assert rec.classes == metadata.CLASSES and rec.version == "linear-1" and rec.inputs == ("image",)
    assert rec.meta["calibration"] == {"temperature": TEMPERATURE}
    assert rec.temperature == TEMPERATURE and rec.rule.kind == "shape"


def test_the_served_module_is_frozen_and_answers_as_the_artifact_does(rec):
    assert not list(rec.module.parameters())
    x = torch.from_numpy(images())
    with torch.inference_mode():
        torch.testing.assert_close(rec.module(x), rec.artifact.module(x))


def test_freezing_for_serving_keeps_the_answers_and_drops_the_parameters():
    module = torch.jit.script(Linear())
    frozen = for_serving(module)
    assert not list(frozen.parameters()) and list(module.parameters())
    x = torch.from_numpy(images())
    with torch.inference_mode():
        torch.testing.assert_close(frozen(x), module(x))


def test_torch_threads_are_set_only_when_asked(artifact, monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    Recognizer(artifact)  # the default: torch's own choice
    assert calls == []
    Recognizer(artifact, torch_threads=1)
    assert calls == [1]


def test_the_device_setting_resolves_for_torch():
    visible = torch.cuda.is_available()
    assert torch_device("cpu") == "cpu"
    assert torch_device("auto") == ("cuda" if visible else "cpu")
    with pytest.raises(DeviceError, match="unknown device"):
        torch_device("tpu")


def test_a_wrong_device_fails_before_the_model_is_read(tmp_path):
    with pytest.raises(DeviceError, match="unknown device"):
        Recognizer(tmp_path / "missing.pt", device="tpu")
