"""ml/notebooks/explore.ipynb: committed without outputs, and it runs top to bottom on small settings."""

import nbformat
import pytest

from foundation.settings import REPO_ROOT
from ml.training.sources import Mix
from ml.training.train import TrainConfig, train
from tests.synthetic_data import make_data_dir

NOTEBOOK = REPO_ROOT / "ml" / "notebooks" / "explore.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), "strip the outputs"


def test_notebook_executes_with_small_settings(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    data = make_data_dir(tmp_path / "data")
    model = tmp_path / "inknet.pt"
    cfg = TrainConfig(
        data_dir=data, out=model, checkpoint_dir=tmp_path / "ckpt", epochs=1, width=8, mix=Mix(64, 64), batch_size=64
    )
    train(cfg, echo=lambda m: None)
    # the kernel is a child process: it reads its parameters from the environment
    monkeypatch.setenv("INKBUS_DATA_DIR", str(data))
    monkeypatch.setenv("INKBUS_MODEL_PATH", str(model))
    monkeypatch.setenv("INKBUS_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("INKBUS_NOTEBOOK_TRAIN_LOG", str(model.with_suffix(".train.jsonl")))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}})
    try:
        client.execute()
    except Exception as exc:  # nbclient's CellExecutionError carries the cell's traceback
        pytest.fail(f"notebook failed: {exc}")
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 3, "the figures should render"
