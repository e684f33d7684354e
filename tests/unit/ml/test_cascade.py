"""The cascade (``inkbus cascade``): a pen-path network answers alone where it is sure, the ensemble the rest.

Serving runs the stages one after the other and renders only the drawings the first is unsure of; every test
here holds that to the artifact's ``forward`` over all drawings, which is what evaluation and calibration see.
"""

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from inkbus.cli import main as cli
from ml.artifact import load_artifact
from ml.ink import validate_ink
from ml.onnx_serving import OnnxRecognizer
from ml.recognizer import Recognizer
from ml.serving import FEATURES, cascade_threshold, model_inputs
from ml.training.cascade import THRESHOLDS, build_cascade, choose_threshold
from ml.training.ensemble import build_ensemble
from ml.training.onnx_export import export_onnx, max_difference
from ml.training.train import train
from tests.helpers import sample_ink
from tests.unit.ml.test_train import tiny_config


@pytest.fixture(scope="module")
def parts(tmp_path_factory, data_dir):
    """A tiny pen-path model (the first stage) and a tiny image + pen-path ensemble (the second)."""
    root = tmp_path_factory.mktemp("parts")
    quiet = {"echo": lambda m: None}
    train(tiny_config(root / "first", data_dir, epochs=1, arch="seq", seed=3), **quiet)
    train(tiny_config(root / "c", data_dir, epochs=1), **quiet)
    train(tiny_config(root / "s", data_dir, epochs=1, arch="seq"), **quiet)
    second = root / "ens.pt"
    build_ensemble([root / "c" / "inknet.pt"], [root / "s" / "inknet.pt"], second, "ens", "test", 0.3)
    return root / "first" / "inknet.pt", second


def inks(n=40):
    return [validate_ink(r) for r in sample_ink()[:n]]


def _member_net(second):
    return getattr(load_artifact(second).module.seq_nets, "0")


@pytest.fixture(scope="module", params=["student", "member"])
def cascade(request, parts, tmp_path_factory):
    """A cascade whose threshold splits the sample drawings about in half, so both stages serve: first a separate
    pen-path network (the ensemble's pen path runs again in the second stage), then the ensemble's own member."""
    first, second = parts
    net = load_artifact(first).module if request.param == "student" else _member_net(second)
    seq = torch.from_numpy(model_inputs(("sequence",), inks())[0])
    with torch.inference_mode():
        top = torch.softmax(net(seq), dim=1).amax(1).numpy()
    out = tmp_path_factory.mktemp("cascade") / "cascade.pt"
    stage = first if request.param == "student" else None
    build_cascade(stage, second, out, "cascade-test", "test", threshold=float(np.median(top)))
    return out


def test_serving_renders_and_runs_the_ensemble_only_for_the_drawings_the_first_model_is_unsure_of(cascade, monkeypatch):
    rec = Recognizer(cascade, 1)
    batch = inks()
    full = rec.probabilities(*model_inputs(rec.inputs, batch))
    rendered = []
    real = FEATURES["image"]
    monkeypatch.setitem(FEATURES, "image", lambda b: rendered.append(len(b)) or real(b))
    got = rec.recognize(batch)
    assert np.abs(got.probs - full).max() < 1e-6  # the artifact's forward, row for row
    with torch.inference_mode():
        seq = torch.from_numpy(model_inputs(("sequence",), batch)[0])
        sure = (rec.artifact.module.first_logp(seq).amax(1) >= rec.log_threshold).numpy()
    assert 0 < sure.sum() < len(batch)  # the fixture's threshold splits the batch: both stages are exercised
    assert rendered == [len(batch) - int(sure.sum())]
    assert got.render_ms > 0 and got.inference_ms > 0


def test_a_batch_the_first_model_is_sure_of_is_never_rendered(parts, tmp_path, monkeypatch):
    out = tmp_path / "sure.pt"
    build_cascade(*parts, out, "sure", "test", threshold=1e-6)  # every drawing passes
    rec = Recognizer(out, 1)
    monkeypatch.setitem(FEATURES, "image", lambda b: pytest.fail("rendered a drawing it was sure of"))
    probs = rec.recognize(inks(8)).probs
    assert probs.shape == (8, len(rec.classes)) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_onnx_runtime_serves_the_cascade_as_torchscript_does(cascade, tmp_path):
    onnx = tmp_path / "cascade.onnx"
    export_onnx(cascade, onnx)
    batch = inks()
    served = OnnxRecognizer(onnx, threads=1)
    assert served.log_threshold == pytest.approx(math.log(load_artifact(cascade).meta["cascade"]["threshold"]))
    torch_probs = Recognizer(cascade, 1).recognize(batch).probs
    assert np.abs(served.recognize(batch).probs - torch_probs).max() < 1e-5
    assert max_difference(cascade, onnx, batch) < 1e-4
    assert served.recognize([]).probs.shape == (0, len(served.classes))


def test_the_ensembles_own_member_in_front_gives_the_ensembles_answer_where_it_is_unsure(parts, tmp_path):
    out = tmp_path / "member.pt"
    meta = build_cascade(None, parts[1], out, "member", "test", threshold=1.0)  # never sure: the second stage only
    assert meta["cascade"]["second_takes"] == "first" and meta["cascade"]["first"]["kind"] == "sequence"
    images, seq = (torch.from_numpy(x) for x in model_inputs(("image", "sequence"), inks()))
    with torch.inference_mode():
        ensemble = torch.softmax(load_artifact(parts[1]).module(images, seq), dim=1)
        mine = torch.softmax(load_artifact(out).module(images, seq), dim=1)
    assert torch.allclose(mine, ensemble, atol=1e-5)
    rec = Recognizer(out, 1)  # and serving, which hands the second stage the first's output, agrees
    assert np.abs(rec.recognize(inks()).probs - ensemble.numpy()).max() < 1e-5


def test_the_members_temperature_is_fitted_on_the_calibration_writers(parts, data_dir, tmp_path):
    meta = build_cascade(None, parts[1], tmp_path / "m.pt", "m", "test", data_dir=data_dir, echo=lambda m: None)
    assert meta["cascade"]["fitted_on"]["split"] == "calibration writers"
    assert meta["cascade"]["first"]["calibration"]["temperature"] != 1.0
    assert meta["train_minutes"] == load_artifact(parts[1]).meta["train_minutes"]  # the member is not counted twice


def test_a_cascade_whose_first_stage_is_one_of_its_ensembles_members_exports_to_int8(parts, tmp_path):
    # The exporter writes the shared weights once, behind aliases, which int8 quantisation cannot take.
    member = parts[1].parent / "s" / "inknet.pt"
    out = tmp_path / "shared.pt"
    build_cascade(member, parts[1], out, "shared", "test", threshold=0.5)
    export_onnx(out, tmp_path / "shared.onnx", int8=True)
    probs = OnnxRecognizer(tmp_path / "shared.onnx", threads=1).recognize(inks(8)).probs
    assert probs.shape == (8, 62) and np.allclose(probs.sum(1), 1, atol=1e-5)
    export_onnx(out, tmp_path / "fp32.onnx")
    assert max_difference(out, tmp_path / "fp32.onnx", inks()) < 1e-4


def test_mnist_is_scored_by_the_ensembles_image_networks(cascade, parts):
    images = torch.from_numpy(model_inputs(("image",), inks(6))[0])
    with torch.inference_mode():
        mine = load_artifact(cascade).module.image_logits(images)
        theirs = load_artifact(parts[1]).module.image_logits(images)
    assert torch.equal(mine, theirs)


def test_the_threshold_is_chosen_on_the_calibration_writers(parts, data_dir, tmp_path):
    meta = build_cascade(*parts, tmp_path / "c.pt", "chosen", "test", data_dir=data_dir, echo=lambda m: None)
    fitted = meta["cascade"]["fitted_on"]
    assert fitted["split"] == "calibration writers" and fitted["samples"] > 0
    assert meta["cascade"]["threshold"] in {*THRESHOLDS.tolist(), 1.0}
    for name, alone in fitted["second_alone"].items():  # by construction: no accuracy lost there
        assert not fitted["cascade"][name] < alone
    assert cascade_threshold(load_artifact(tmp_path / "c.pt").meta) == meta["cascade"]["threshold"]


def _logp(*rows: dict[int, float]) -> np.ndarray:
    """Log-probability rows over 62 classes: the given classes' probabilities, the rest shared evenly."""
    out = np.empty((len(rows), 62))
    for i, row in enumerate(rows):
        out[i] = (1 - sum(row.values())) / (62 - len(row))
        for c, p in row.items():
            out[i, c] = p
    return np.log(out)


def test_the_lowest_threshold_that_loses_no_accuracy_is_kept():
    # Three drawings of class 0, which the ensemble gets right. The first model is wrong and 70 % sure on the
    # first, right and 95 % sure on the second, right and 50 % sure on the third.
    first = _logp({1: 0.70, 0: 0.2}, {0: 0.95}, {0: 0.5, 2: 0.3})
    second = _logp({0: 0.9}, {0: 0.9}, {0: 0.9})
    t, fitted = choose_threshold(first, second, np.zeros(3, dtype=int))
    assert t == 0.71  # the first threshold above the wrong answer's confidence
    assert fitted["answered_first"] == pytest.approx(1 / 3)  # only the 95 % one is answered by the first model
    assert fitted["cascade"]["exact"] == fitted["second_alone"]["exact"] == 1.0


def test_a_first_model_that_is_never_safe_leaves_every_drawing_to_the_ensemble():
    first = _logp({5: 1.0 - 1e-9}, {5: 1.0 - 1e-9})  # sure and wrong every time
    second = _logp({0: 0.9}, {0: 0.9})
    t, fitted = choose_threshold(first, second, np.zeros(2, dtype=int))
    assert t == 1.0 and fitted["answered_first"] == 0.0


def test_members_of_the_wrong_kind_are_refused(parts, tmp_path):
    first, second = parts
    with pytest.raises(ValueError, match="--first takes a pen-path model"):
        build_cascade(second, second, tmp_path / "x.pt", "x", "test", threshold=0.5)
    with pytest.raises(ValueError, match="--second takes an image \\+ pen-path ensemble"):
        build_cascade(first, first, tmp_path / "x.pt", "x", "test", threshold=0.5)
    with pytest.raises(ValueError, match="calibration writers"):
        build_cascade(first, second, tmp_path / "x.pt", "x", "test")
    two = tmp_path / "two.pt"  # which pen-path member would go first?
    build_ensemble([parts[1].parent / "c" / "inknet.pt"], [first, first], two, "two", "test", 0.3)
    with pytest.raises(ValueError, match="2 pen-path members"):
        build_cascade(None, two, tmp_path / "x.pt", "x", "test", threshold=0.5)


@pytest.mark.parametrize("bad", [{"threshold": 0}, {"threshold": 1.5}, {}, "0.9"])
def test_an_artifact_with_an_implausible_threshold_is_refused(bad):
    with pytest.raises(ValueError, match="implausible cascade threshold"):
        cascade_threshold({"cascade": bad})
    assert cascade_threshold({}) is None


def test_the_command_joins_the_stages(parts, tmp_path):
    out = tmp_path / "cli.pt"
    first, second = parts
    args = ["cascade", "--first", str(first), "--second", str(second), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--version", "cli-cascade", "--threshold", "0.6"])
    assert result.exit_code == 0, result.output
    assert "threshold 0.6" in result.output
    meta = load_artifact(out).meta
    assert meta["version"] == "cli-cascade" and meta["cascade"]["threshold"] == 0.6
    assert meta["cascade"]["first"]["kind"] == "sequence" and meta["cascade"]["second"]["version"] == "ens"
    assert meta["inputs"] == ["image", "sequence"]


@pytest.mark.parametrize("kind", ["student", "member"])
def test_the_model_card_describes_the_cascade_and_measures_it_as_served(kind, parts, data_dir, tmp_path):
    out = tmp_path / "card.pt"
    first = parts[0] if kind == "student" else None
    build_cascade(first, parts[1], out, "card-cascade", "inkbus cascade --test", data_dir=data_dir, echo=lambda m: None)
    card = tmp_path / "MODEL_CARD.md"
    args = ["eval", "--model", str(out), "--data-dir", str(data_dir), "--card", str(card), "--limit", "40"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    text = card.read_text()
    assert "- A cascade: a pen-path network answers alone" in text and "calibration writers" in text
    assert "joined by `test`" in text  # the ensemble's own command, not the cascade's
    assert "Joined by `inkbus cascade --test`" in text
    assert "rendering for the drawings the first stage leaves to the ensemble" in text
    assert "MNIST test (the image CNN alone" in text
    own = "- First stage: the ensemble's own pen-path member" in text
    assert own == (kind == "member") and ("Trained with `" in text.split("- An ensemble")[0]) == (kind == "student")
