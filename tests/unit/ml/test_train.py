"""``inkbus train`` / ``inkbus eval`` end to end on tiny data, and the SageMaker script-mode entry point."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from inkbus.cli import main as cli
from ml import metadata
from ml.artifact import load_artifact
from ml.training.sagemaker_entry import normalise_flags, sagemaker_defaults
from ml.training.sources import Mix
from ml.training.train import TrainConfig, pick_device, train
from tests.settings import SHARED_DATA


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_artifact(path):
    art = load_artifact(path)  # the serving loader: class map and preprocessing version must be inside
    assert art.classes == metadata.CLASSES and art.preprocessing_version == metadata.PREPROCESSING_VERSION
    out = art.module(torch.zeros(3, 28, 28, dtype=torch.uint8))
    assert out.shape == (3, metadata.NUM_CLASSES)
    return art


def test_dry_run_command_exports_an_artifact_and_a_log(tmp_path, data_dir):
    out = tmp_path / "m" / "inknet.pt"
    res = CliRunner().invoke(cli, ["train", "--dry-run", "--data-dir", str(data_dir), "--out", str(out), "--seed", "3"])
    assert res.exit_code == 0, res.output
    art = check_artifact(out)
    assert art.meta["parameters"] < 2_000_000 and art.meta["command"].startswith("inkbus")
    events = [r["event"] for r in read_log(out.with_suffix(".train.jsonl"))]
    assert events == ["start", "epoch", "exported"]


@pytest.mark.skipif(
    not SHARED_DATA.is_dir() and not os.environ.get("CI"),
    reason=f"needs the shared training data at {SHARED_DATA} (present in CI)",
)
def test_dry_run_on_the_shared_data(tmp_path):
    out = tmp_path / "inknet.pt"
    res = CliRunner().invoke(cli, ["train", "--dry-run", "--data-dir", str(SHARED_DATA), "--out", str(out)])
    assert res.exit_code == 0, res.output
    epoch = next(r for r in read_log(out.with_suffix(".train.jsonl")) if r["event"] == "epoch")
    assert epoch["val_samples"] > 0 and epoch["mnist_test_top1"] > 0.2  # learns something in seconds


def tiny_config(tmp_path, data_dir, **kw):
    return TrainConfig(
        data_dir=data_dir,
        out=tmp_path / "inknet.pt",
        checkpoint_dir=tmp_path / "ckpt",
        batch_size=64,
        mix=Mix(mnist_per_epoch=64, emnist_per_epoch=64),
        width=8,
        **kw,
    )


def test_training_resumes_from_its_checkpoint(tmp_path, data_dir):
    msgs = []
    # a budget that is spent after the first epoch stands in for an interrupted run
    first = train(tiny_config(tmp_path, data_dir, epochs=2, max_minutes=1e-9), echo=msgs.append)
    assert [h["epoch"] for h in first["history"]] == [1]
    second = train(tiny_config(tmp_path, data_dir, epochs=2), echo=msgs.append)
    assert any("resumed" in m for m in msgs)
    assert [h["epoch"] for h in second["history"]] == [1, 2]
    assert second["history"][0]["train_loss"] == first["history"][0]["train_loss"]
    check_artifact(tmp_path / "inknet.pt")


def test_same_seed_same_model(tmp_path, data_dir):
    a = train(tiny_config(tmp_path / "a", data_dir, epochs=1, seed=5), echo=lambda m: None)
    b = train(tiny_config(tmp_path / "b", data_dir, epochs=1, seed=5), echo=lambda m: None)
    assert a["history"][0]["train_loss"] == pytest.approx(b["history"][0]["train_loss"], rel=1e-5)


def test_bf16_training_still_exports_plain_fp32_weights(tmp_path, data_dir):
    meta = train(tiny_config(tmp_path, data_dir, epochs=1, bf16=True), echo=lambda m: None)
    assert meta["config"]["bf16"] is True
    art = check_artifact(tmp_path / "inknet.pt")
    params = list(art.module.parameters())
    assert all(p.dtype == torch.float32 and p.is_contiguous() for p in params)


def test_fine_tuning_starts_from_given_weights(tmp_path, data_dir):
    train(tiny_config(tmp_path / "a", data_dir, epochs=1), echo=lambda m: None)
    base = load_artifact(tmp_path / "a" / "inknet.pt").module.state_dict()
    cfg = tiny_config(tmp_path / "b", data_dir, epochs=1, lr=1e-9, init_from=tmp_path / "a" / "inknet.pt")
    train(cfg, echo=lambda m: None)
    tuned = load_artifact(tmp_path / "b" / "inknet.pt").module.state_dict()
    key = "net.features.0.weight"
    assert torch.allclose(base[key], tuned[key], atol=1e-6)  # a vanishing learning rate keeps the start point


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_eval_writes_the_model_card(tmp_path, data_dir):
    model = tmp_path / "inknet.pt"
    train(tiny_config(tmp_path, data_dir, epochs=1), echo=lambda m: None)
    card = tmp_path / "docs" / "MODEL_CARD.md"
    res = CliRunner().invoke(
        cli, ["eval", "--model", str(model), "--data-dir", str(data_dir), "--card", str(card), "--limit", "40"]
    )
    assert res.exit_code == 0, res.output
    text = card.read_text()
    for needle in ("within-category", "case-folded", "top-3", "MNIST test", "calibration", "batch | total", "| `z` |"):
        assert needle in text
    assert (tmp_path / "docs" / "model_card_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "docs" / "model_card_grading.png").read_bytes()[:4] == b"\x89PNG"
    assert "False rejection, all characters" in text and "ECE" in res.output and "false-reject" in res.output


def test_calibrate_writes_the_temperature_and_the_rule_that_serving_then_uses(tmp_path, data_dir):
    from ml.practice import Rule
    from ml.recognizer import Recognizer

    model, out = tmp_path / "inknet.pt", tmp_path / "cal" / "inknet.pt"
    train(tiny_config(tmp_path, data_dir, epochs=1), echo=lambda m: None)
    res = CliRunner().invoke(
        cli, ["calibrate", "--model", str(model), "--data-dir", str(data_dir), "--out", str(out), "--version", "v-cal"]
    )
    assert res.exit_code == 0, res.output
    assert "temperature" in res.output and "calibration writers" in res.output
    art = load_artifact(out)
    cal, grading = art.meta["calibration"], art.meta["grading"]
    assert art.version == "v-cal" and art.meta["parent_version"] == load_artifact(model).version
    assert cal["fitted_on"]["split"] == "calibration writers" and cal["fitted_on"]["samples"] > 0
    assert 0.05 <= cal["temperature"] <= 20 and cal["nll_after"] <= cal["nll_before"] + 1e-9
    rec = Recognizer(out)
    assert rec.temperature == cal["temperature"] and rec.rule == Rule(grading["kind"], grading["threshold"])
    assert Recognizer(model).temperature == 1.0  # the parent is untouched


def test_sagemaker_defaults_and_boolean_hyperparameters():
    env = {"SM_CHANNEL_TRAIN": "/in", "SM_MODEL_DIR": "/model", "SM_NUM_GPUS": "1", "SM_OUTPUT_DATA_DIR": "/o"}
    args = sagemaker_defaults(env)
    assert args[args.index("--data-dir") + 1] == "/in"
    assert args[args.index("--out") + 1] == "/model/inknet.pt"
    assert args[args.index("--device") + 1] == "cuda"
    assert sagemaker_defaults({}) == []
    assert normalise_flags(["--dry-run", "True", "--epochs", "3", "--no-resume", "false"]) == [
        "--dry-run",
        "--epochs",
        "3",
    ]


def test_sagemaker_script_mode_runs_locally(tmp_path, data_dir):
    """The staged source_dir's entry script, run the way the container runs it, SM_* pointing at temp folders."""
    from ml.training.sagemaker_launch import ENTRY, stage_source

    src = stage_source(tmp_path / "src")
    model_dir, output = tmp_path / "opt_ml" / "model", tmp_path / "opt_ml" / "output"
    env = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(data_dir),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output),
        "SM_NUM_GPUS": "0",
    }
    run = subprocess.run(
        [sys.executable, ENTRY, "--dry-run", "True", "--epochs", "1"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    check_artifact(model_dir / "inknet.pt")
    assert sorted(p.name for p in model_dir.iterdir()) == ["inknet.pt"]  # nothing else gets shipped
    assert [r["event"] for r in read_log(output / "train.jsonl")][-1] == "exported"
    assert (src / "requirements.txt").is_file() and not (src / "ml" / "__pycache__").exists()


def test_time_schedule_warms_up_anneals_and_resumes():
    from ml.training.schedule import TimeSchedule, warmup_cosine

    assert warmup_cosine(0.0) == pytest.approx(0.04) and warmup_cosine(0.05) == pytest.approx(1.0)
    assert warmup_cosine(1.0) == pytest.approx(0.0, abs=1e-12) and warmup_cosine(0.5) < 1.0
    now = [0.0]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = TimeSchedule(opt, 0.1, minutes=1.0, clock=lambda: now[0])
    now[0] = 30.0
    assert sched.step() and 0.0 < opt.param_groups[0]["lr"] < 0.1
    state = sched.state_dict()
    again = TimeSchedule(opt, 0.1, minutes=1.0, clock=lambda: now[0])
    again.load_state_dict(state)  # half the budget already spent
    now[0] = 60.0
    assert not again.step() and again.done() and opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)


def test_training_for_a_time_budget_stops_by_itself(tmp_path, data_dir):
    meta = train(tiny_config(tmp_path, data_dir, epochs=10_000, minutes=0.05), echo=lambda m: None)
    assert 1 <= len(meta["history"]) < 10_000
    check_artifact(tmp_path / "inknet.pt")


def test_sequence_model_trains_and_joins_the_cnn_in_one_served_artifact(tmp_path, data_dir):
    from ml.recognizer import Recognizer
    from ml.sequence import SEQ_CHANNELS, SEQ_LEN

    seq_meta = train(tiny_config(tmp_path / "s", data_dir, epochs=1, arch="seq"), echo=lambda m: None)
    seq_art = load_artifact(tmp_path / "s" / "inknet.pt")
    assert seq_art.inputs == ("sequence",) and seq_meta["history"][0]["val_samples"] > 0
    assert seq_art.module(torch.zeros(2, SEQ_LEN, SEQ_CHANNELS)).shape == (2, metadata.NUM_CLASSES)
    train(tiny_config(tmp_path / "c", data_dir, epochs=1), echo=lambda m: None)
    out = tmp_path / "ens.pt"
    args = ["ensemble", "--image", str(tmp_path / "c" / "inknet.pt"), "--seq", str(tmp_path / "s" / "inknet.pt")]
    res = CliRunner().invoke(cli, [*args, "--out", str(out), "--version", "ens-test"])
    assert res.exit_code == 0, res.output
    art = load_artifact(out)
    assert art.inputs == ("image", "sequence") and [m["version"] for m in art.meta["members"]] == [
        load_artifact(tmp_path / "c" / "inknet.pt").version,
        seq_art.version,
    ]
    # serving builds both inputs from the same ink: probabilities of the two members averaged
    from ml.ink import validate_ink
    from tests.helpers import sample_ink

    rec = Recognizer(out)
    probs = rec.recognize([validate_ink(r) for r in sample_ink()[:5]]).probs
    assert probs.shape == (5, metadata.NUM_CLASSES) and np.allclose(probs.sum(1), 1, atol=1e-4)
    card = tmp_path / "MODEL_CARD.md"
    res = CliRunner().invoke(
        cli, ["eval", "--model", str(out), "--data-dir", str(data_dir), "--card", str(card), "--limit", "40"]
    )
    assert res.exit_code == 0, res.output
    assert "Stroke-sequence 1-D CNN" in card.read_text() and "the image CNN alone" in card.read_text()


def test_an_artifact_with_other_sequence_features_is_refused(tmp_path):
    from ml.artifact import ArtifactError, save_artifact

    class Seq(torch.nn.Module):
        def forward(self, seq: torch.Tensor) -> torch.Tensor:
            return seq.flatten(1)[:, :62]

    path = save_artifact(Seq(), tmp_path / "s.pt", {"version": "s", "inputs": ["sequence"], "sequence_version": "x"})
    with pytest.raises(ArtifactError, match="pen-path features"):
        load_artifact(path)
    path = save_artifact(Seq(), tmp_path / "t.pt", {"version": "t", "inputs": ["sound"]})
    with pytest.raises(ArtifactError, match="inputs"):
        load_artifact(path)
