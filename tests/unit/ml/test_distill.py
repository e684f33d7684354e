"""Distillation (``inkbus train --arch seq --teacher``): soft targets from a served artifact, and a student that
starts from an ensemble's own sequence member."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from inkbus.cli import main as cli
from ml import metadata
from ml.artifact import load_artifact
from ml.ink import validate_ink
from ml.training.distill import soft_targets, teacher_probabilities
from ml.training.ensemble import build_ensemble
from ml.training.train import train
from tests.helpers import sample_ink
from tests.unit.ml.test_train import tiny_config


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory, data_dir):
    """A tiny image CNN + sequence model joined the way the served ensemble is."""
    root = tmp_path_factory.mktemp("ens")
    train(tiny_config(root / "c", data_dir, epochs=1), echo=lambda m: None)
    train(tiny_config(root / "s", data_dir, epochs=1, arch="seq"), echo=lambda m: None)
    out = root / "ens.pt"
    build_ensemble([root / "c" / "inknet.pt"], [root / "s" / "inknet.pt"], out, "ens-teacher", "test", 0.3)
    return out


def inks(n=12):
    return [validate_ink(r) for r in sample_ink()[:n]]


def test_the_teacher_gives_a_probability_row_per_ink(ensemble):
    probs, version = teacher_probabilities(ensemble, inks())
    assert version == "ens-teacher" and probs.shape == (12, metadata.NUM_CLASSES)
    assert np.allclose(probs.sum(1), 1, atol=1e-5) and (probs >= 0).all()


def test_soft_targets_mix_the_teacher_and_the_label_by_the_weight(ensemble):
    labels = np.arange(12) % metadata.NUM_CLASSES
    teacher, _ = teacher_probabilities(ensemble, inks())
    targets, meta = soft_targets(ensemble, inks(), labels, 0.7)
    onehot = np.eye(metadata.NUM_CLASSES)[labels]
    assert np.allclose(targets, 0.7 * teacher + 0.3 * onehot, atol=1e-6)
    assert np.allclose(targets.sum(1), 1, atol=1e-5)
    assert meta["version"] == "ens-teacher" and meta["weight"] == 0.7
    assert meta["train_top1"] == pytest.approx(float((teacher.argmax(1) == labels).mean()), abs=1e-4)
    only_labels, _ = soft_targets(ensemble, inks(), labels, 0.0)
    assert np.array_equal(only_labels, onehot.astype(np.float32))
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        soft_targets(ensemble, inks(), labels, 1.5)


def test_a_student_starts_from_the_ensembles_sequence_member_and_records_its_teacher(tmp_path, data_dir, ensemble):
    cfg = tiny_config(tmp_path, data_dir, epochs=1, arch="seq", lr=1e-12, init_from=ensemble, teacher=ensemble)
    meta = train(cfg, echo=lambda m: None)
    assert meta["teacher"]["version"] == "ens-teacher" and meta["teacher"]["weight"] == 0.7
    student = load_artifact(cfg.out).module.state_dict()
    member = {
        k.removeprefix("seq_nets.0."): v
        for k, v in load_artifact(ensemble).module.state_dict().items()
        if k.startswith("seq_nets.0.")
    }
    weights = [k for k in member if k.endswith("weight") and member[k].dim() > 1]
    assert weights and all(torch.allclose(student[k], member[k], atol=1e-6) for k in weights)
    # its card says what it reads and what it learned from, and claims no MNIST figure it cannot have
    card = tmp_path / "MODEL_CARD.md"
    res = CliRunner().invoke(
        cli, ["eval", "--model", str(cfg.out), "--data-dir", str(data_dir), "--card", str(card), "--limit", "40"]
    )
    assert res.exit_code == 0, res.output
    text = card.read_text()
    assert "Distilled from `ens-teacher`: each training target is 0.7" in text
    assert "nothing is rendered" in text and "n/a: MNIST images have no pen path" in text
    assert "MNIST and EMNIST are not used" in text and "preprocessing (pen-path features)" in text


def test_weights_of_another_shape_are_refused(tmp_path, data_dir, ensemble):
    cfg = tiny_config(tmp_path, data_dir, epochs=1, arch="seq", init_from=ensemble)
    cfg.width = 16  # the ensemble's member has width 8
    with pytest.raises(ValueError, match="no weights that fit"):
        train(cfg, echo=lambda m: None)


def test_distillation_is_offered_for_the_sequence_model_only(tmp_path, ensemble):
    args = ["train", "--dry-run", "--teacher", str(ensemble), "--out", str(tmp_path / "x.pt")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and "--arch seq" in res.output
