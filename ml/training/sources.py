"""What the training loop draws from, and how one epoch's batches are made.

Ink is rendered on the fly by the serving rasteriser (``ml.raster``) with fresh augmentation every
epoch, so the model sees the kind of image the canvas produces; MNIST and EMNIST images are mixed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.metadata import NUM_CLASSES
from ml.raster import render_batch
from ml.training import data as D
from ml.training.augment import augment_strokes, random_radius

DRY_RUN_ROWS = 2000  # ink lines read by the dry run: enough for a few writers on each side
DRY_RUN_IMAGES = 256


@dataclass
class Mix:
    """How many samples of each source one epoch holds, and how ink classes are weighted."""

    mnist_per_epoch: int = 15000
    emnist_per_epoch: int = 25000
    ink_repeat: float = 1.0  # ink samples per epoch, as a multiple of the ink training set
    balance_power: float = 0.0  # 0 = natural class frequencies; 1 = every class equally often


def _empty_images() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)


class Sources:
    """Ink split writer-disjoint into train/calibration/val, plus MNIST (train, test) and EMNIST images.

    A missing MNIST or EMNIST file just drops that source (a SageMaker channel may hold only ink);
    ``corrections/*.jsonl[.gz]`` (the app's stored corrections, same format) join the ink.
    """

    def __init__(
        self, data_dir: str | Path, val_fraction: float = 0.1, dry_run: bool = False, calib_fraction: float = 0.1
    ):
        d = Path(data_dir)
        rows = DRY_RUN_ROWS if dry_run else 0
        ink_files = [d / "unipen" / "ink.jsonl.gz", *sorted((d / "corrections").glob("*.jsonl*"))]
        strokes, labels, writers = [], [], []
        for path in (p for p in ink_files if p.is_file()):
            s, y, w = D.load_ink_samples(path, max_rows=rows)
            strokes += s
            labels.append(y)
            writers += w
        if not strokes:
            raise FileNotFoundError(f"no ink found in {d} (expected unipen/ink.jsonl.gz)")
        labels = np.concatenate(labels)
        val = D.writer_split(writers, val_fraction)
        calib = D.calibration_split(writers, calib_fraction) & ~val if calib_fraction > 0 else np.zeros_like(val)
        train = ~val & ~calib
        self.ink_train = [s for s, t in zip(strokes, train, strict=True) if t]
        self.ink_train_y = labels[train]
        self.ink_calib = [s for s, c in zip(strokes, calib, strict=True) if c]
        self.ink_calib_y = labels[calib]
        self.calib_writers = sorted({w for w, c in zip(writers, calib, strict=True) if c})
        self.ink_val = [s for s, v in zip(strokes, val, strict=True) if v]
        self.ink_val_y = labels[val]
        self.val_writers = sorted({w for w, v in zip(writers, val, strict=True) if v})

        try:
            self.mnist_x, self.mnist_y, self.mnist_test_x, self.mnist_test_y = D.load_mnist(d / "mnist")
        except FileNotFoundError:
            (self.mnist_x, self.mnist_y), (self.mnist_test_x, self.mnist_test_y) = _empty_images(), _empty_images()
        emnist = sorted((d / "emnist").glob("emnist_byclass_*.npz"))
        parts = [D.load_emnist_npz(p) for p in emnist] or [_empty_images()]
        self.emnist_x = np.concatenate([x for x, _ in parts])
        self.emnist_y = np.concatenate([y for _, y in parts])
        if dry_run:
            n = DRY_RUN_IMAGES
            self.mnist_x, self.mnist_y = self.mnist_x[:n], self.mnist_y[:n]
            self.mnist_test_x, self.mnist_test_y = self.mnist_test_x[:n], self.mnist_test_y[:n]
            self.emnist_x, self.emnist_y = self.emnist_x[:n], self.emnist_y[:n]

    def describe(self) -> dict:
        return {
            "ink_train": len(self.ink_train),
            "ink_val": len(self.ink_val),
            "val_writers": len(self.val_writers),
            "ink_calib": len(self.ink_calib),
            "calib_writers": len(self.calib_writers),
            "mnist_train": len(self.mnist_x),
            "mnist_test": len(self.mnist_test_x),
            "emnist": len(self.emnist_x),
        }


def class_weights(y: np.ndarray, power: float) -> np.ndarray:
    """Per-sample sampling probabilities ∝ count(class)^-power (0 keeps the natural mix)."""
    counts = np.bincount(y, minlength=NUM_CLASSES).astype(float)
    w = np.where(counts[y] > 0, counts[y], 1.0) ** -power
    return w / w.sum()


def epoch_plan(src: Sources, mix: Mix, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(kind, index) for every sample of one epoch, shuffled: kind 0 = ink, 1 = MNIST, 2 = EMNIST."""
    n_ink = math.ceil(len(src.ink_train) * mix.ink_repeat)
    if mix.balance_power or mix.ink_repeat != 1.0:
        ink_idx = rng.choice(len(src.ink_train), n_ink, p=class_weights(src.ink_train_y, mix.balance_power))
    else:
        ink_idx = rng.permutation(len(src.ink_train))
    n_m = min(mix.mnist_per_epoch, len(src.mnist_x))
    n_e = min(mix.emnist_per_epoch, len(src.emnist_x))
    kinds = np.concatenate([np.zeros(len(ink_idx), int), np.ones(n_m, int), np.full(n_e, 2)])
    idx = np.concatenate(
        [ink_idx, rng.choice(len(src.mnist_x), n_m, replace=False), rng.choice(len(src.emnist_x), n_e, replace=False)]
    )
    order = rng.permutation(len(kinds))
    return kinds[order], idx[order]


def _shift_images(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random one-pixel shifts for the image sources (their strokes are already varied)."""
    out = np.empty_like(x)
    for i, (dy, dx) in enumerate(rng.integers(-1, 2, size=(len(x), 2))):
        out[i] = np.roll(np.roll(x[i], dy, axis=0), dx, axis=1)
    return out


def epoch_batches(src: Sources, mix: Mix, batch_size: int, rng: np.random.Generator, strength: float = 1.0):
    """Yield (uint8 images, labels) batches: ink rendered with fresh augmentation every epoch."""
    kinds, idx = epoch_plan(src, mix, rng)
    for start in range(0, len(kinds), batch_size):
        k, i = kinds[start : start + batch_size], idx[start : start + batch_size]
        images, labels = [], []
        ink_sel = i[k == 0]
        if len(ink_sel):
            inks = [augment_strokes(src.ink_train[j], rng, strength) for j in ink_sel]
            images.append(render_batch(inks, random_radius(rng, len(inks))))
            labels.append(src.ink_train_y[ink_sel])
        for kind, xs, ys in ((1, src.mnist_x, src.mnist_y), (2, src.emnist_x, src.emnist_y)):
            s = i[k == kind]
            if len(s):
                images.append(_shift_images(xs[s], rng))
                labels.append(ys[s])
        yield np.concatenate(images), np.concatenate(labels)


def steps_per_epoch(src: Sources, mix: Mix, batch_size: int) -> int:
    n = math.ceil(len(src.ink_train) * mix.ink_repeat)
    n += min(mix.mnist_per_epoch, len(src.mnist_x)) + min(mix.emnist_per_epoch, len(src.emnist_x))
    return math.ceil(n / batch_size)
