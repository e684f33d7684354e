"""``inkbus train`` and ``inkbus eval``. Torch and the training code load inside the commands only.

SageMaker's entry script (staged by ``ml/training/sagemaker_launch.py``) calls ``sagemaker_main``: this same
``train`` command with its defaults taken from the SM_* variables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from foundation.settings import REPO_ROOT, Settings

RUNS = REPO_ROOT / "runs"


def _path(**kw):
    return click.Path(path_type=Path, **kw)


@click.command()
@click.option("--data-dir", type=_path(file_okay=False), help="Training data [INKBUS_DATA_DIR].")
@click.option(
    "--out",
    type=_path(dir_okay=False),
    default=RUNS / "train" / "inknet.pt",
    show_default=True,
    help="Where the exported artifact goes.",
)
@click.option("--checkpoint-dir", type=_path(file_okay=False), help="Default: beside --out, in ckpt/.")
@click.option("--log", "log_path", type=_path(dir_okay=False), help="JSON-lines log. Default: OUT.train.jsonl.")
@click.option(
    "--arch",
    type=click.Choice(["cnn", "seq"]),
    default="cnn",
    show_default=True,
    help="Image CNN or stroke-sequence model.",
)
@click.option("--epochs", type=click.IntRange(1, 1000), default=8, show_default=True, help="Most passes over the data.")
@click.option("--batch-size", type=click.IntRange(8, 8192), default=256, show_default=True, help="Samples per step.")
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Peak learning rate.")
@click.option(
    "--label-smoothing",
    type=click.FloatRange(0, 0.5),
    default=0.1,
    show_default=True,
    help="Probability mass spread over the other classes.",
)
@click.option("--width", type=click.IntRange(8, 128), default=32, show_default=True, help="First block's channels.")
@click.option(
    "--aug-strength", type=click.FloatRange(0, 3), default=1.0, show_default=True, help="Scale of the ink augmentation."
)
@click.option(
    "--mnist-per-epoch",
    type=click.IntRange(0),
    default=15000,
    show_default=True,
    help="MNIST images mixed into each epoch.",
)
@click.option(
    "--emnist-per-epoch",
    type=click.IntRange(0),
    default=25000,
    show_default=True,
    help="EMNIST images mixed into each epoch.",
)
@click.option(
    "--ink-repeat",
    type=click.FloatRange(0.1, 10),
    default=1.0,
    show_default=True,
    help="UNIPEN ink per epoch, as a multiple of its training set.",
)
@click.option(
    "--balance", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Ink class balancing power."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (weights, sampling, augmentation).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
@click.option("--max-minutes", type=float, default=0.0, help="Stop after the epoch that crosses this budget.")
@click.option("--minutes", type=float, default=0.0, help="Train for this long: the learning rate follows wall time.")
@click.option("--no-resume", is_flag=True, help="Ignore an existing checkpoint.")
@click.option("--init-from", type=_path(dir_okay=False, exists=True), help="Start from these weights (fine-tune).")
@click.option(
    "--teacher",
    type=_path(dir_okay=False, exists=True),
    help="Distil: also learn this artifact's probabilities on the training ink (--arch seq).",
)
@click.option(
    "--distill-weight",
    type=click.FloatRange(0, 1),
    default=0.7,
    show_default=True,
    help="The teacher's share of each soft target; the label has the rest.",
)
@click.option("--version", "version", help="Version string stored in the artifact.")
@click.option("--bf16", is_flag=True, help="bfloat16 autocast (faster on CPUs with AMX and on GPUs).")
@click.option("--dry-run", is_flag=True, help="Tiny subset, one epoch, seconds (CI).")
def train(data_dir, out, checkpoint_dir, log_path, no_resume, version, **kw) -> None:
    """Train the recogniser and export the serving artifact (resumes from its checkpoint)."""
    from ml.training.sources import Mix
    from ml.training.train import TrainConfig
    from ml.training.train import train as run_training

    if kw.get("teacher") and kw["arch"] != "seq":
        raise click.BadParameter(
            "distillation trains the stroke-sequence model: add --arch seq", param_hint="--teacher"
        )
    mix = Mix(**{k: kw.pop(k) for k in ("mnist_per_epoch", "emnist_per_epoch", "ink_repeat")})
    mix.balance_power = kw.pop("balance")
    cfg = TrainConfig(
        data_dir=data_dir or Settings().data_dir,
        out=out,
        checkpoint_dir=checkpoint_dir or out.parent / "ckpt",
        log_path=log_path,
        mix=mix,
        resume=not no_resume,
        **({"version": version} if version else {}),
        **kw,
    )
    meta = run_training(cfg, echo=lambda m: click.echo(m, err=True))
    click.echo(f"wrote {out} ({meta['parameters']:,} parameters, {meta['train_minutes']} min)")


@click.command("ensemble")
@click.option(
    "--image", "image_paths", type=_path(dir_okay=False, exists=True), required=True, multiple=True, help="CNN artifact"
)
@click.option(
    "--seq", "seq_paths", type=_path(dir_okay=False, exists=True), required=True, multiple=True, help="Pen-path model"
)
@click.option("--out", type=_path(dir_okay=False), required=True, help="Where the joined artifact goes.")
@click.option(
    "--image-weight",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Weight of the image CNNs in the mix (the rest: sequence models).",
)
@click.option("--version", "version", required=True, help="Version string stored in the artifact.")
def ensemble(image_paths, seq_paths, out, image_weight, version) -> None:
    """Join image-CNN and stroke-sequence artifacts (each option repeatable) into one serving artifact."""
    from ml.training.ensemble import build_ensemble

    command = " ".join(["inkbus", *sys.argv[1:]])
    meta = build_ensemble(list(image_paths), list(seq_paths), out, version, command, image_weight)
    click.echo(f"wrote {out} ({meta['parameters']:,} parameters)")


@click.command("cascade")
@click.option(
    "--first",
    "first_path",
    type=_path(dir_okay=False, exists=True),
    help="A calibrated pen-path model [default: the ensemble's own pen-path member].",
)
@click.option(
    "--second", "second_path", type=_path(dir_okay=False, exists=True), required=True, help="Calibrated ensemble."
)
@click.option("--out", type=_path(dir_okay=False), required=True, help="Where the cascade artifact goes.")
@click.option("--version", "version", required=True, help="Version string stored in the artifact.")
@click.option("--data-dir", type=_path(file_okay=False), help="Calibration writers' ink [INKBUS_DATA_DIR].")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    help="The first model answers alone at or above this probability [default: chosen on the calibration writers].",
)
def cascade(first_path, second_path, out, version, data_dir, threshold) -> None:
    """Put a pen-path model in front of an ensemble: the ink is rendered and the ensemble asked only where the
    pen-path model is unsure."""
    from ml.training.cascade import build_cascade

    command = " ".join(["inkbus", *sys.argv[1:]])
    data = None if threshold is not None and first_path else (data_dir or Settings().data_dir)
    meta = build_cascade(first_path, second_path, out, version, command, data, threshold, echo=click.echo)
    click.echo(f"wrote {out} ({meta['parameters']:,} parameters, threshold {meta['cascade']['threshold']:g})")


@click.command("eval")
@click.option("--model", "model_path", type=_path(dir_okay=False), help="Artifact [INKBUS_MODEL_PATH].")
@click.option("--data-dir", type=_path(file_okay=False), help="Evaluation data [INKBUS_DATA_DIR].")
@click.option(
    "--card",
    type=_path(dir_okay=False),
    default=REPO_ROOT / "docs" / "MODEL_CARD.md",
    show_default=True,
    help="Where the model card goes.",
)
@click.option("--experiments", type=_path(dir_okay=False), help="Markdown of experiments to include in the card.")
@click.option("--limit", type=click.IntRange(0), default=0, help="Evaluate at most this many samples per set.")
def evaluate(model_path, data_dir, card, experiments, limit) -> None:
    """Measure an artifact on the writer-disjoint UNIPEN split and MNIST; write the model card."""
    from ml.training.evaluate import run_evaluation

    s = Settings()
    report = run_evaluation(
        model_path or s.model_path, data_dir or s.data_dir, card, experiments=experiments, limit=limit
    )
    click.echo(report["summary_line"])


@click.command("calibrate")
@click.option("--model", "model_path", type=_path(dir_okay=False, exists=True), help="Artifact [INKBUS_MODEL_PATH].")
@click.option("--data-dir", type=_path(file_okay=False), help="Calibration writers' ink [INKBUS_DATA_DIR].")
@click.option("--out", type=_path(dir_okay=False), required=True, help="Where the calibrated artifact goes.")
@click.option("--version", "version", help="New version string (the old one is kept as parent_version).")
def calibrate(model_path, data_dir, out, version) -> None:
    """Fit temperature scaling and choose the practice rule on writers held out of training."""
    from ml.training.calibrate import calibrate as run

    s = Settings()
    run(model_path or s.model_path, data_dir or s.data_dir, out, version, echo=click.echo)


@click.command("fetch-emnist")
@click.option("--data-dir", type=_path(file_okay=False), help="Where emnist/ goes [INKBUS_DATA_DIR].")
@click.option("--url", help="Archive URL [INKBUS_EMNIST_URL].")
@click.option(
    "--subset", type=click.Choice(["train", "test"]), default="train", show_default=True, help="Which EMNIST split."
)
def fetch_emnist(data_dir, url, subset) -> None:
    """Download NIST's EMNIST archive and convert its ByClass split to DATA_DIR/emnist/*.npz."""
    from ml.training.data import fetch_emnist as fetch

    s = Settings()
    click.echo(fetch(url or s.emnist_url, data_dir or s.data_dir, subset))


def sagemaker_main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> None:
    """SageMaker script mode: ``inkbus train`` with the SM_* defaults (ml/training/sagemaker_entry.py)."""
    from ml.training.sagemaker_entry import train_args

    argv = sys.argv[1:] if argv is None else argv
    train.main(args=train_args(argv, os.environ if env is None else env), prog_name="inkbus train")


@click.command("export-onnx")
@click.option("--model", "model_path", type=_path(dir_okay=False, exists=True), help="Artifact [INKBUS_MODEL_PATH].")
@click.option("--out", type=_path(dir_okay=False), help="Where the ONNX file goes [INKBUS_ONNX_MODEL_PATH].")
@click.option("--int8", is_flag=True, help="Quantise the weights to int8 (dynamic quantisation).")
def export_onnx(model_path, out, int8) -> None:
    """Export the TorchScript artifact to ONNX, metadata inside, for INKBUS_RUNTIME=onnx (serving without torch)."""
    from ml.training.onnx_export import export_onnx as export

    s = Settings()
    model_path, out = model_path or s.model_path, out or s.onnx_model_path
    meta = export(model_path, out, int8=int8)
    inputs = ", ".join(meta.get("inputs", ["image"]))
    stages = f", a cascade at threshold {meta['cascade']['threshold']:g}" if "cascade" in meta else ""
    click.echo(f"{out}: {meta['version']} ({meta['onnx']['weights']}, inputs {inputs}{stages})")
