"""``retrain`` on tiny synthetic data: an ensemble is fine-tuned member by member from its own weights,
on the base data plus a snapshot, and the candidate names its parent, its data and its command."""

from __future__ import annotations

import json

import pytest
import torch

from ml.artifact import load_artifact
from ml.registry import file_sha256
from ml.training.ensemble import build_ensemble
from ml.training.retrain import RetrainConfig, link_data, retrain
from ml.training.sources import Mix, Sources
from ml.training.train import TrainConfig, train
from tests.synthetic_data import make_data_dir, random_ink

TINY = Mix(mnist_per_epoch=64, emnist_per_epoch=64)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("data"), n_ink=300, n_images=128)


@pytest.fixture(scope="module")
def parent(tmp_path_factory, data_dir):
    """A two-member ensemble (image CNN + sequence net), as the shipped model is, but tiny."""
    root = tmp_path_factory.mktemp("parent")
    for arch in ("cnn", "seq"):
        cfg = TrainConfig(data_dir=data_dir, out=root / f"{arch}.pt", checkpoint_dir=root / f"ckpt-{arch}", arch=arch,
                          width=8, epochs=1, batch_size=64, mix=TINY, version=f"parent-{arch}")  # fmt: skip
        train(cfg, echo=lambda m: None)
    build_ensemble([root / "cnn.pt"], [root / "seq.pt"], root / "parent.pt", "parent-ens", "test", 0.6)
    return root / "parent.pt"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A snapshot folder as ``inkbus dataset snapshot`` writes it (a real store is tested elsewhere)."""
    import numpy as np

    from tutor.snapshot import data_sha256

    folder = tmp_path_factory.mktemp("snaps") / "snap-test"
    folder.mkdir()
    rng = np.random.default_rng(1)
    rows = [{"label": c, "writer": "inkbus/abc", "strokes": random_ink(rng)} for c in "abc123" * 5]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "holdout.jsonl").write_text("")
    manifest = {"version": "snap-test", "sha256": data_sha256(folder), "samples": {"train": 30, "holdout": 0}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _config(tmp_path, parent, snapshot, data_dir, **kw) -> RetrainConfig:
    return RetrainConfig(parent=parent, snapshot=snapshot, base_data=data_dir, out=tmp_path / "cand.pt",
                         work=tmp_path / "work", version="cand-1", command="inkbus retrain --test", epochs=1,
                         mix=TINY, **kw)  # fmt: skip


def _params(path) -> dict[str, torch.Tensor]:
    module = load_artifact(path).module
    names = {n for n, _ in module.named_parameters()}
    return {k: v for k, v in module.state_dict().items() if k in names}


def test_the_snapshot_joins_the_base_data_as_corrections(tmp_path, data_dir, snapshot):
    linked = link_data(data_dir, snapshot, tmp_path / "data", copies=2)
    base = Sources(data_dir, calib_fraction=0.0)
    both = Sources(linked, calib_fraction=0.0)
    assert len(both.ink_train) + len(both.ink_val) == len(base.ink_train) + len(base.ink_val) + 60


def test_retrain_fine_tunes_every_member_and_records_its_provenance(tmp_path, parent, snapshot, data_dir):
    meta = retrain(_config(tmp_path, parent, snapshot, data_dir), echo=lambda m: None)
    art = load_artifact(tmp_path / "cand.pt")
    assert art.version == "cand-1" and art.inputs == ("image", "sequence")
    assert meta["parent"] == "parent-ens" and meta["parent_sha256"] == file_sha256(parent)
    assert meta["snapshot"]["version"] == "snap-test" and meta["snapshot"]["sha256"] == json.loads(
        (snapshot / "manifest.json").read_text())["sha256"]  # fmt: skip
    assert meta["command"] == "inkbus retrain --test" and meta["image_weight"] == 0.6
    assert [m["version"] for m in meta["members"]] == ["cand-1-m0", "cand-1-m1"]
    before, after = _params(parent), _params(tmp_path / "cand.pt")
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)


def test_with_a_zero_learning_rate_every_member_keeps_its_parent_weights(tmp_path, parent, snapshot, data_dir):
    # proves each member starts from its own slice of the parent, not from a fresh network
    retrain(_config(tmp_path, parent, snapshot, data_dir, lr=0.0), echo=lambda m: None)
    before, after = _params(parent), _params(tmp_path / "cand.pt")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_changed_snapshot_is_refused(tmp_path, parent, snapshot, data_dir):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("train.jsonl", "holdout.jsonl", "manifest.json"):
        (bad / name).write_bytes((snapshot / name).read_bytes())
    (bad / "train.jsonl").write_text("")
    with pytest.raises(ValueError, match="sha256"):
        retrain(_config(tmp_path, parent, bad, data_dir), echo=lambda m: None)


@pytest.fixture(scope="module", params=["student", "member"])
def cascade_parent(request, tmp_path_factory, data_dir, parent):
    """The tiny ensemble behind a pen-path first stage, as ``inkbus cascade`` joins them: a network of its own, or
    the ensemble's own pen-path member."""
    from ml.training.cascade import build_cascade

    root = tmp_path_factory.mktemp("cascade")
    first = None
    if request.param == "student":
        first = root / "first.pt"
        cfg = TrainConfig(data_dir=data_dir, out=first, checkpoint_dir=root / "ckpt", arch="seq", width=8,
                          epochs=1, batch_size=64, mix=TINY, version="parent-first", seed=5)  # fmt: skip
        train(cfg, echo=lambda m: None)
    build_cascade(first, parent, root / "cascade.pt", "parent-cascade", "test", threshold=0.42)
    return root / "cascade.pt"


def test_a_cascade_is_fine_tuned_stage_by_stage_and_keeps_its_threshold(tmp_path, cascade_parent, snapshot, data_dir):
    meta = retrain(_config(tmp_path, cascade_parent, snapshot, data_dir, lr=0.0), echo=lambda m: None)
    art = load_artifact(tmp_path / "cand.pt")
    parent = load_artifact(cascade_parent).meta["cascade"]
    assert art.version == "cand-1" and meta["parent"] == "parent-cascade"
    assert meta["cascade"]["threshold"] == 0.42 and meta["cascade"]["second_takes"] == parent["second_takes"]
    assert meta["retrain"]["members"] == (3 if parent["second_takes"] == "sequence" else 2)
    assert meta["cascade"]["fitted_on"] == {"from_parent": "parent-cascade"}
    before, after = _params(cascade_parent), _params(tmp_path / "cand.pt")
    assert before.keys() == after.keys() and any(k.startswith("second.") for k in before)
    assert all(torch.equal(before[k], after[k]) for k in before)  # every stage started from its own weights
