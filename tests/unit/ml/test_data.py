"""The training data loaders, on small files built here (no network, no shared data)."""

import gzip
import json
import zipfile

import numpy as np
import pytest

from ml.metadata import CLASS_INDEX
from ml.training import data as D
from tests.synthetic_data import make_data_dir


def test_ink_jsonl_plain_and_gzip_skip_bad_rows(tmp_path):
    rows = [
        {"label": "a", "writer": "x/1", "strokes": [[[0, 0], [5, 5]]]},
        {"label": "7", "writer": "x/2", "strokes": [[[0, 0, 10], [1, 9, 20]], [[3, 3]]]},
        {"label": "?", "writer": "x/3", "strokes": [[[0, 0], [1, 1]]]},  # not one of the 62 classes
        {"label": "b", "writer": "x/4", "strokes": []},  # empty ink
        {"label": "c", "strokes": [[[0, "bad"]]]},  # invalid point
    ]
    text = "\n".join(json.dumps(r) for r in rows) + "\n\n"
    (tmp_path / "ink.jsonl").write_text(text)
    with gzip.open(tmp_path / "ink.jsonl.gz", "wt") as fh:
        fh.write(text)
    for name in ("ink.jsonl", "ink.jsonl.gz"):
        strokes, y, writers = D.load_ink_samples(tmp_path / name)
        assert list(y) == [CLASS_INDEX["a"], CLASS_INDEX["7"]]
        assert writers == ["x/1", "x/2"]
        assert [s.shape for s in strokes[1]] == [(2, 2), (1, 2)]  # the time column is dropped
    assert len(D.load_ink_samples(tmp_path / "ink.jsonl", max_rows=1)[0]) == 1


def test_writer_split_keeps_each_writer_on_one_side():
    writers = [f"w{i % 50}" for i in range(1000)]
    val = D.writer_split(writers, 0.2)
    by_writer = {}
    for w, v in zip(writers, val, strict=True):
        assert by_writer.setdefault(w, v) == v
    assert 0 < val.mean() < 0.5
    assert np.array_equal(val, D.writer_split(writers, 0.2))  # stable across runs


def _mnist_like(rng, n):
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files(tmp_path, gz):
    rng = np.random.default_rng(1)
    sets = {"train": _mnist_like(rng, 7), "t10k": _mnist_like(rng, 3)}
    for split, (x, y) in sets.items():
        for kind, arr in (("images-idx3-ubyte", x), ("labels-idx1-ubyte", y)):
            raw = D.write_idx(arr)
            name = f"{split}-{kind}" + (".gz" if gz else "")
            (tmp_path / name).write_bytes(gzip.compress(raw) if gz else raw)
    x_tr, y_tr, x_te, y_te = D.load_mnist(tmp_path)  # no mnist.npz: falls back to the IDX files
    assert np.array_equal(x_tr, sets["train"][0]) and np.array_equal(y_te, sets["t10k"][1])
    assert x_tr.dtype == np.uint8 and y_tr.dtype == np.int64 and x_te.shape == (3, 28, 28)


def test_mnist_npz(tmp_path):
    rng = np.random.default_rng(2)
    (x, y), (xt, yt) = _mnist_like(rng, 5), _mnist_like(rng, 2)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    got = D.load_mnist(tmp_path)
    assert np.array_equal(got[0], x) and got[1].dtype == np.int64 and np.array_equal(got[3], yt)


def test_idx_rejects_garbage():
    with pytest.raises(ValueError, match="magic"):
        D.read_idx(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="size"):
        D.read_idx(D.write_idx(np.zeros((2, 3), np.uint8))[:-1])


def _nist_archive(path, x_upright, y_emnist, mapping):
    """A miniature of NIST's gzip.zip: gzipped IDX members, images stored transposed."""
    with zipfile.ZipFile(path, "w") as zf:
        pre = "gzip/emnist-byclass-train"
        zf.writestr(f"{pre}-images-idx3-ubyte.gz", gzip.compress(D.write_idx(x_upright.transpose(0, 2, 1))))
        zf.writestr(f"{pre}-labels-idx1-ubyte.gz", gzip.compress(D.write_idx(y_emnist)))
        zf.writestr("gzip/emnist-byclass-mapping.txt", "".join(f"{k} {c}\n" for k, c in mapping))


def test_emnist_archive_is_made_upright_and_mapped(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    # EMNIST labels 0, 10, 36 are '0', 'A', 'a'; label 61 maps to '~', which is not one of our classes
    _nist_archive(
        tmp_path / "gzip.zip", x, np.array([0, 10, 36, 61], np.uint8), [(0, 48), (10, 65), (36, 97), (61, 126)]
    )
    xs, ys = D.load_emnist_archive(tmp_path / "gzip.zip")
    assert np.array_equal(xs, x[:3])
    assert [int(v) for v in ys] == [CLASS_INDEX["0"], CLASS_INDEX["A"], CLASS_INDEX["a"]]


def test_fetch_emnist_downloads_from_the_configured_url_and_converts(tmp_path):
    src = tmp_path / "mirror" / "gzip.zip"
    src.parent.mkdir()
    x = np.zeros((2, 28, 28), np.uint8)
    x[0, 0, 5] = 255  # row 0 once upright: catches a missing transpose
    _nist_archive(src, x, np.array([1, 2], np.uint8), [(1, 49), (2, 50)])
    out = D.fetch_emnist(src.as_uri(), tmp_path / "data")
    xs, ys = D.load_emnist_npz(out)
    assert out.name == "emnist_byclass_train.npz" and xs[0, 0, 5] == 255 and list(ys) == [1, 2]
    # a second call reuses the downloaded archive (the mirror is gone now)
    src.unlink()
    assert D.fetch_emnist(src.as_uri(), tmp_path / "data") == out


def test_download_checks_the_checksum(tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"hello")
    with pytest.raises(ValueError, match="checksum"):
        D.download(src.as_uri(), tmp_path / "out.bin", sha256="0" * 64)
    assert not (tmp_path / "out.bin").exists() and not (tmp_path / "out.bin.part").exists()


def test_synthetic_data_dir_loads_with_the_real_loaders(tmp_path):
    root = make_data_dir(tmp_path, n_ink=50, n_images=20)
    strokes, _y, writers = D.load_ink_samples(root / "unipen" / "ink.jsonl.gz")
    assert len(strokes) == 50 and D.writer_split(writers).any()
    assert D.load_mnist(root / "mnist")[0].shape == (20, 28, 28)
    assert D.load_emnist_npz(root / "emnist" / "emnist_byclass_test.npz")[1].max() < 62


def test_fetch_emnist_command_takes_the_url_from_settings(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from inkbus.cli import main as cli

    src = tmp_path / "gzip.zip"
    _nist_archive(src, np.zeros((1, 28, 28), np.uint8), np.array([3], np.uint8), [(3, 51)])
    monkeypatch.setenv("INKBUS_EMNIST_URL", src.as_uri())
    res = CliRunner().invoke(cli, ["fetch-emnist", "--data-dir", str(tmp_path / "d"), "--subset", "train"])
    assert res.exit_code == 0, res.output
    assert list(D.load_emnist_npz(tmp_path / "d" / "emnist" / "emnist_byclass_train.npz")[1]) == [3]
