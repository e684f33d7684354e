"""Data loaders: ink JSON lines (UNIPEN, stored corrections), MNIST and EMNIST."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ml.ink import InkError, validate_ink
from ml.metadata import CLASS_INDEX


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def iter_ink_jsonl(path: str | Path) -> Iterator[dict]:
    with _open_text(Path(path)) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_ink_samples(path: str | Path) -> tuple[list[list[np.ndarray]], np.ndarray, list[str]]:
    """Labelled ink (the project's format) -> (strokes, label indices, writers). Invalid rows are skipped."""
    strokes, labels, writers = [], [], []
    for row in iter_ink_jsonl(path):
        label = row.get("label")
        if label not in CLASS_INDEX:
            continue
        try:
            s = validate_ink(row)
        except InkError:
            continue
        strokes.append(s)
        labels.append(CLASS_INDEX[label])
        writers.append(str(row.get("writer", "")))
    return strokes, np.asarray(labels, dtype=np.int64), writers


def writer_split(writers: list[str], val_fraction: float = 0.1, salt: str = "inkbus") -> np.ndarray:
    """Boolean mask of validation samples: whole writers go to one side, chosen by a stable hash."""

    def is_val(w: str) -> bool:
        h = int.from_bytes(hashlib.sha256(f"{salt}:{w}".encode()).digest()[:8], "big")
        return h / 2**64 < val_fraction

    cache: dict[str, bool] = {}
    return np.array([cache.setdefault(w, is_val(w)) for w in writers], dtype=bool)


def load_mnist_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path) as z:
        return z["x_train"], z["y_train"].astype(np.int64), z["x_test"], z["y_test"].astype(np.int64)


def load_emnist_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """EMNIST ByClass as stored in the data directory (already upright; labels index CLASSES)."""
    with np.load(path) as z:
        return z["x"], z["y"].astype(np.int64)
