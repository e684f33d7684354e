"""Data loaders: ink JSON lines (UNIPEN, stored corrections), MNIST (npz, IDX) and EMNIST (npz, NIST archive).

Every image loader returns uint8 arrays (N, 28, 28), white ink on black, upright, and int64 labels
that index ``ml.metadata.CLASSES``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
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


def load_ink_samples(path: str | Path, max_rows: int = 0) -> tuple[list[list[np.ndarray]], np.ndarray, list[str]]:
    """Labelled ink (the project's format) -> (strokes, label indices, writers).

    Rows with an unknown label or invalid ink are skipped: stored corrections come from users.
    ``max_rows`` > 0 reads only that many lines (the dry run).
    """
    strokes, labels, writers = [], [], []
    for n, row in enumerate(iter_ink_jsonl(path)):
        if max_rows and n >= max_rows:
            break
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


def calibration_split(writers: list[str], fraction: float = 0.1) -> np.ndarray:
    """Boolean mask of calibration writers: held out of training like validation, by another hash.

    Calibration (temperature, grading thresholds) is fitted on these writers, so the validation
    writers stay untouched for reporting. Callers drop validation writers from the mask themselves.
    """
    return writer_split(writers, fraction, salt="inkbus-calibration")


# --- MNIST


def load_mnist_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path) as z:
        return z["x_train"], z["y_train"].astype(np.int64), z["x_test"], z["y_test"].astype(np.int64)


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(source: str | Path | bytes) -> np.ndarray:
    """An IDX file (LeCun's MNIST format), plain or gzipped, from a path or its bytes."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic: the official files are distributed gzipped
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError("not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(dims)) if dims else 1
    if len(raw) != 4 + 4 * ndim + count * dtype.itemsize:
        raise ValueError(f"IDX file size does not match its header {dims}")
    return np.frombuffer(raw, dtype, count=count, offset=4 + 4 * ndim).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"{stem}[.gz] not found in {directory}")


def load_mnist_idx(directory: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST from the four original IDX files (``train-images-idx3-ubyte[.gz]`` and friends)."""
    d = Path(directory)
    parts = [
        read_idx(_find_idx(d, f"{split}-{kind}"))
        for split in ("train", "t10k")
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    ]
    x_tr, y_tr, x_te, y_te = parts
    return x_tr.astype(np.uint8), y_tr.astype(np.int64), x_te.astype(np.uint8), y_te.astype(np.int64)


def load_mnist(directory: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST from ``mnist.npz`` when present, else from the IDX files in the same folder."""
    d = Path(directory)
    return load_mnist_npz(d / "mnist.npz") if (d / "mnist.npz").is_file() else load_mnist_idx(d)


# --- EMNIST


def load_emnist_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """EMNIST ByClass as stored in the data directory (already upright; labels index CLASSES)."""
    with np.load(path) as z:
        return z["x"], z["y"].astype(np.int64)


def _emnist_label_map(mapping_text: str) -> np.ndarray:
    """EMNIST's ``label ascii-code`` mapping -> an array from EMNIST label to our class index."""
    pairs = [tuple(int(v) for v in line.split()) for line in mapping_text.splitlines() if line.strip()]
    lut = np.full(max(k for k, _ in pairs) + 1, -1, dtype=np.int64)
    for k, code in pairs:
        lut[k] = CLASS_INDEX.get(chr(code), -1)
    return lut


def load_emnist_archive(
    path: str | Path, split: str = "byclass", subset: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """EMNIST from NIST's official ``gzip.zip`` (IDX files inside), made upright like the npz files.

    The archive stores images transposed (column-major), so they are transposed back here. Labels are
    translated through the archive's own mapping file rather than assumed to be in our order.
    """
    prefix = f"gzip/emnist-{split}-{subset}"
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())

        def member(stem: str) -> bytes:
            for name in (stem, stem + ".gz"):
                if name in names:
                    return zf.read(name)
            raise FileNotFoundError(f"{stem}[.gz] not in {path}")

        x = read_idx(member(f"{prefix}-images-idx3-ubyte")).astype(np.uint8)
        y = read_idx(member(f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
        lut = _emnist_label_map(member(f"gzip/emnist-{split}-mapping.txt").decode())
    y = lut[y]
    keep = y >= 0  # the balanced/merged splits have labels outside our 62 classes' spelling
    return np.ascontiguousarray(x[keep].transpose(0, 2, 1)), y[keep]


def download(url: str, dest: str | Path, sha256: str = "", chunk: int = 1 << 20) -> Path:
    """Fetch ``url`` to ``dest`` (streamed, atomic rename, optional checksum); reuse a complete file.

    ``file://`` URLs work too, which is how the tests exercise this without a network.
    """
    import urllib.request

    from tqdm import tqdm

    dest = Path(dest)
    if dest.is_file() and (not sha256 or _sha256(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=None) as bar:
            while block := resp.read(chunk):
                out.write(block)
                bar.update(len(block))
    if sha256 and _sha256(tmp) != sha256:
        tmp.unlink()
        raise ValueError(f"checksum mismatch for {url}")
    tmp.replace(dest)
    return dest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def fetch_emnist(url: str, data_dir: str | Path, subset: str = "train") -> Path:
    """Download the official archive into ``data_dir/emnist`` and convert one ByClass subset to npz."""
    folder = Path(data_dir) / "emnist"
    archive = download(url, folder / "gzip.zip")
    x, y = load_emnist_archive(archive, "byclass", subset)
    out = folder / f"emnist_byclass_{subset}.npz"
    np.savez_compressed(out, x=x, y=y)
    return out


def write_idx(array: np.ndarray) -> bytes:
    """The inverse of ``read_idx`` for uint8 arrays (tests and fixtures build IDX files with it)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, np.uint8).tobytes()
