import numpy as np
import pytest
import torch

from ml import metadata
from ml.artifact import ArtifactError, load_artifact, save_artifact
from ml.ink import validate_ink
from tests.helpers import sample_ink


def test_shipped_artifact_carries_its_metadata(settings):
    art = load_artifact(settings.model_path)
    assert art.classes == metadata.CLASSES
    assert art.preprocessing_version == metadata.PREPROCESSING_VERSION
    assert art.version and art.meta["parameters"] < 2_000_000


def test_shipped_model_really_recognises(recognizer):
    """The committed model on held-out writers' ink (tests/data comes from writers it never trained on)."""
    rows = sample_ink()
    probs = recognizer.recognize([validate_ink(r) for r in rows]).probs
    labels = np.array([metadata.CLASS_INDEX[r["label"]] for r in rows])
    for group, floor in ((metadata.DIGITS, 0.95), (metadata.UPPER, 0.85), (metadata.LOWER, 0.85)):
        cols = [metadata.CLASS_INDEX[c] for c in group]
        mask = np.isin(labels, cols)
        within = np.asarray(cols)[probs[mask][:, cols].argmax(1)]  # the category's own classes only
        assert (within == labels[mask]).mean() >= floor, group
    top1 = [recognizer.classes[i] for i in probs.argmax(1)]
    folded = np.mean([p.lower() == r["label"].lower() for p, r in zip(top1, rows, strict=True)])
    assert folded >= 0.8
    assert np.allclose(probs.sum(1), 1, atol=1e-4)


def test_serving_freezes_the_module_without_changing_its_answers(recognizer):
    from ml.recognizer import model_inputs

    inks = [validate_ink(r) for r in sample_ink()[:40]]
    inputs = [torch.from_numpy(np.ascontiguousarray(x)) for x in model_inputs(recognizer.inputs, inks)]
    with torch.inference_mode():
        # the served probabilities are calibrated: the artifact's temperature applies to what it outputs
        as_saved = torch.softmax(recognizer.artifact.module(*inputs) / recognizer.temperature, dim=1).numpy()
    served = recognizer.recognize(inks).probs
    assert recognizer.module is not recognizer.artifact.module
    assert not list(recognizer.module.parameters())  # frozen: the weights are constants of the graph
    np.testing.assert_allclose(served, as_saved, atol=1e-5)
    assert (served.argmax(1) == as_saved.argmax(1)).all()


def test_top_is_sorted_and_complete(recognizer):
    probs = recognizer.recognize([validate_ink(sample_ink()[0])]).probs[0]
    top = recognizer.top(probs, 62)
    assert len(top) == 62 and {t["label"] for t in top} == set(metadata.CLASSES)
    ps = [t["p"] for t in top]
    assert ps == sorted(ps, reverse=True)
    assert recognizer.top(probs, 1)[0] == top[0]


def test_artifact_round_trip_and_version_guard(tmp_path):
    class Tiny(torch.nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return images.float().flatten(1)[:, :62]

    path = save_artifact(Tiny(), tmp_path / "m.pt", {"version": "tiny-1"})
    art = load_artifact(path)
    assert art.version == "tiny-1" and art.classes == metadata.CLASSES
    out = art.module(torch.zeros(2, 28, 28, dtype=torch.uint8))
    assert out.shape == (2, 62)

    bad = tmp_path / "old.pt"
    torch.jit.save(torch.jit.script(Tiny()), str(bad), _extra_files={"inkbus.json": '{"preprocessing_version": "x"}'})
    with pytest.raises(ArtifactError, match="preprocessing"):
        load_artifact(bad)
    with pytest.raises(ArtifactError, match="not found"):
        load_artifact(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ArtifactError):
        load_artifact(tmp_path / "junk.pt")


def test_serving_code_never_imports_training_code():
    import subprocess
    import sys

    code = (
        "import sys, ml.recognizer, ml.onnx_serving, workers.engine, workers.batcher, web.app; "
        "print([m for m in sys.modules if m.startswith('ml.training')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
