"""A tiny data directory laid out like ``../shared/data``, made of random strokes and noise images.

Lets the training entry points (dry run, SageMaker script mode, the notebook) run on a fresh
machine with no data at all; the numbers it produces mean nothing.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from ml.metadata import CLASSES
from ml.training.data import calibration_split, writer_split


def random_ink(rng: np.random.Generator) -> list[list[list[float]]]:
    strokes = []
    for _ in range(rng.integers(1, 3)):
        n = int(rng.integers(2, 12))
        strokes.append(np.round(np.cumsum(rng.normal(0, 30, size=(n, 2)), axis=0) + 500, 1).tolist())
    return strokes


def write_ink_jsonl(path: Path, n: int, rng: np.random.Generator, writers: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for i in range(n):
            row = {"label": CLASSES[i % len(CLASSES)], "writer": writers[i % len(writers)], "strokes": random_ink(rng)}
            fh.write(json.dumps(row) + "\n")


def make_data_dir(root: Path, n_ink: int = 400, n_images: int = 300, seed: int = 0) -> Path:
    """Write unipen/ink.jsonl.gz, mnist/mnist.npz and emnist/emnist_byclass_test.npz under ``root``."""
    rng = np.random.default_rng(seed)
    writers = [f"syn/w{i}" for i in range(40)]
    assert writer_split(writers).any(), "the synthetic writers must put someone on the validation side"
    assert (calibration_split(writers) & ~writer_split(writers)).any(), "and someone on the calibration side"
    write_ink_jsonl(root / "unipen" / "ink.jsonl.gz", n_ink, rng, writers)

    def images(n: int) -> np.ndarray:
        return (rng.random((n, 28, 28)) > 0.8).astype(np.uint8) * 255

    (root / "mnist").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        root / "mnist" / "mnist.npz",
        x_train=images(n_images),
        y_train=rng.integers(0, 10, n_images).astype(np.uint8),
        x_test=images(n_images // 2),
        y_test=rng.integers(0, 10, n_images // 2).astype(np.uint8),
    )
    (root / "emnist").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        root / "emnist" / "emnist_byclass_test.npz", x=images(n_images), y=rng.integers(0, 62, n_images)
    )
    return root
