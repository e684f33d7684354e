"""A worker serving on ONNX Runtime in a process where torch cannot be imported answers jobs from RabbitMQ as the
TorchScript worker would: the serving roles need no torch."""

from __future__ import annotations

import sys

import pytest

from bus.schemas import RecognizeJob
from ml.ink import validate_ink
from tests.helpers import Proc, sample_ink, wait_until

pytest.importorskip("onnxruntime", reason="the serve-onnx extra is not installed")

# `import torch` raises ImportError in this worker, from its first line on
NO_TORCH_WORKER = [sys.executable, "-c", "import sys; sys.modules['torch'] = None; from inkbus.cli import main; main()"]


@pytest.fixture(scope="module")
def onnx_model(settings, tmp_path_factory):
    from ml.training.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "inknet.onnx"
    export_onnx(settings.model_path, out)
    return out


def test_worker_without_torch_answers_like_the_torch_worker(
    settings, rabbit_url, collector, onnx_model, recognizer, tmp_path
):
    from producers.publisher import JobPublisher

    env = {
        "INKBUS_BROKER_URL": rabbit_url,
        "INKBUS_RUNTIME": "onnx",
        "INKBUS_ONNX_MODEL_PATH": str(onnx_model),
        "INKBUS_WORKER_METRICS_PORT": "0",
    }
    worker = Proc([*NO_TORCH_WORKER, "worker"], env, tmp_path / "worker.log")
    rows = sample_ink()[:5]
    try:
        jobs = [RecognizeJob(ink={"strokes": r["strokes"]}, reply_to=collector.edge_id, top_k=3) for r in rows]
        pub = JobPublisher(settings, rabbit_url)
        for j in jobs:
            pub.publish(j)
        pub.close()
        wait_until(lambda: {j.job_id for j in jobs} <= set(collector.delivered), 90, what="the ONNX worker's answers")
        expected = recognizer.recognize([validate_ink(r) for r in rows]).probs
        for j, p in zip(jobs, expected, strict=True):
            event = collector.events[j.job_id]
            assert event["model"] == recognizer.version
            assert [t["label"] for t in event["top"]] == [t["label"] for t in recognizer.top(p, 3)]
            assert abs(event["top"][0]["p"] - float(p.max())) <= 1e-4
        assert "on cpu (onnx)" in worker.output()
    finally:
        worker.kill()
