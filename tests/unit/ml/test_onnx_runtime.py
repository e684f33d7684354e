"""The ONNX serving path: the exported graph answers what the training framework answers on real ink, the ONNX
file alone carries the artifact's metadata, and recognition runs with torch impossible to import."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from foundation.settings import REPO_ROOT
from ml.artifact import ArtifactError
from tests.helpers import TEST_DATA, sample_ink

pytest.importorskip("onnxruntime", reason="the serve-onnx extra is not installed")


@pytest.fixture(scope="module")
def onnx_model(settings, tmp_path_factory):
    from ml.training.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "inknet.onnx"
    export_onnx(settings.model_path, out)
    return out


@pytest.fixture(scope="module")
def inks():
    from ml.ink import validate_ink

    return [validate_ink(r) for r in sample_ink()]


def test_outputs_equal_the_training_framework_on_real_ink(settings, onnx_model, inks):
    from ml.training.onnx_export import max_difference

    assert len(inks) > 200
    assert max_difference(settings.model_path, onnx_model, inks) <= 1e-4  # logits, against the artifact as saved


def test_served_probabilities_equal_torchscript_serving(settings, onnx_model, inks, recognizer):
    from ml.onnx_serving import OnnxRecognizer

    rec = OnnxRecognizer(onnx_model, threads=1)
    for batch in (inks[:1], inks[:8], inks):
        assert np.abs(rec.recognize(batch).probs - recognizer.recognize(batch).probs).max() <= 1e-4
    assert rec.recognize([]).probs.shape == (0, len(rec.classes))


def test_the_metadata_travels_inside_the_onnx_file(onnx_model, recognizer):
    from ml.onnx_serving import OnnxRecognizer

    rec = OnnxRecognizer(onnx_model)
    assert rec.version == recognizer.version and rec.classes == recognizer.classes
    assert rec.inputs == recognizer.inputs and rec.temperature == recognizer.temperature
    assert rec.rule == recognizer.rule
    assert rec.meta["onnx"]["weights"] == "fp32"


def test_bad_onnx_files_are_refused_by_name(tmp_path, onnx_model):
    import onnx

    from ml.onnx_serving import OnnxRecognizer

    with pytest.raises(ArtifactError, match="not found"):
        OnnxRecognizer(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match="cannot load"):
        OnnxRecognizer(tmp_path / "junk.onnx")
    model = onnx.load(str(onnx_model))
    meta = json.loads(model.metadata_props[0].value)
    model.metadata_props[0].value = json.dumps({**meta, "preprocessing_version": "raster-v0"})
    onnx.save(model, str(tmp_path / "old.onnx"))
    with pytest.raises(ArtifactError, match="preprocessing"):
        OnnxRecognizer(tmp_path / "old.onnx")
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(ArtifactError, match=r"inkbus\.json"):
        OnnxRecognizer(tmp_path / "bare.onnx")


# torch made impossible to import: `import torch` raises ImportError in the child
NO_TORCH = "import sys; sys.modules['torch'] = None; "


def test_recognize_runs_without_torch(settings, onnx_model):
    digits = sorted(TEST_DATA.glob("digit_*.json"))[:3]
    text = "".join(json.dumps(json.loads(p.read_text())) + "\n" for p in digits)
    code = NO_TORCH + "from inkbus.cli import main; main()"
    args = ["recognize", "--runtime", "onnx", "--model", str(onnx_model), "--top", "3", "-"]
    res = subprocess.run(
        [sys.executable, "-c", code, *args], input=text, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT
    )
    assert res.returncode == 0, res.stderr[-3000:]
    outs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [o["top"][0]["label"] for o in outs] == [json.loads(p.read_text())["label"] for p in digits]


def test_the_serving_roles_import_and_recognise_without_torch(onnx_model):
    code = NO_TORCH + (
        "import workers.celery_app, workers.batcher, workers.engine, web.app, inkbus.embedded; "
        "from foundation.settings import Settings; from workers.swap import start_serving; "
        f"rec = start_serving(Settings(runtime='onnx', onnx_model_path={str(onnx_model)!r}), 'w').current(); "
        "from tests.helpers import sample_ink; from ml.ink import validate_ink; "
        "r = rec.recognize([validate_ink(x) for x in sample_ink()[:4]]); "
        "from ml.serving import open_recognizer; from ml.artifact import ArtifactError; "
        "exec('try: open_recognizer(Settings(runtime=\\'torch\\'))\\nexcept ArtifactError as e: print(e)'); "
        "print(rec.runtime, rec.device, r.probs.shape, sorted(m for m in sys.modules if m.startswith('torch')))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    refused, served = res.stdout.split("\n")[-3:-1]
    assert served == "onnx cpu (4, 62) ['torch']"  # only the blocked entry itself
    assert (
        refused == "INKBUS_RUNTIME=torch needs torch (pip install 'inkbus[torch]'); without it set INKBUS_RUNTIME=onnx"
    )


def test_export_command_writes_an_int8_model_that_serves(settings, tmp_path, inks):
    from click.testing import CliRunner

    from inkbus.cli import main
    from ml.onnx_serving import OnnxRecognizer

    out = tmp_path / "int8.onnx"
    res = CliRunner().invoke(main, ["export-onnx", "--model", str(settings.model_path), "--out", str(out), "--int8"])
    assert res.exit_code == 0, res.output
    assert f"{out}: " in res.output and "int8-dynamic" in res.output
    rec = OnnxRecognizer(out, threads=1)
    assert rec.meta["onnx"]["weights"] == "int8-dynamic" and not out.with_suffix(".onnx.tmp").exists()
    probs = rec.recognize(inks[:64]).probs
    assert np.allclose(probs.sum(1), 1, atol=1e-4) and probs.shape == (64, 62)


def test_onnx_device_choice_follows_the_installed_providers():
    import onnxruntime

    from ml.onnx_serving import onnx_device
    from ml.serving import DeviceError

    has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    assert onnx_device("auto") == ("cuda" if has_cuda else "cpu") and onnx_device("cpu") == "cpu"
    if not has_cuda:
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            onnx_device("cuda")


def test_the_shipped_onnx_file_serves_the_shipped_model(inks):
    """models/inknet.onnx (INKBUS_RUNTIME=onnx, no torch) must be models/inknet.pt exported, not an older one."""
    from ml.onnx_serving import OnnxRecognizer
    from ml.recognizer import Recognizer

    shipped = REPO_ROOT / "models" / "inknet.onnx"
    assert shipped.is_file(), "export it with: inkbus export-onnx --model models/inknet.pt --out models/inknet.onnx"
    onnx, torch_rec = OnnxRecognizer(shipped, threads=1), Recognizer(REPO_ROOT / "models" / "inknet.pt", 1)
    assert onnx.version == torch_rec.version and onnx.temperature == torch_rec.temperature
    assert onnx.rule == torch_rec.rule
    assert np.abs(onnx.recognize(inks).probs - torch_rec.recognize(inks).probs).max() <= 1e-4
