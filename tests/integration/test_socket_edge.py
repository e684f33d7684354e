"""Socket.IO over the real RabbitMQ: `inkbus edge` and `inkbus worker` processes, python-socketio clients."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import requests

from bus.connection import connect
from bus.topology import DEAD_LETTER_QUEUE_NAME, JOB_QUEUE_NAME, declare_topology
from foundation.settings import REPO_ROOT
from tests.helpers import Proc, free_port, http_ok, inkbus_cmd, load_json, sample_ink, wait_until
from tests.socket_client import DrawingClient

# Samples whose shape is not ambiguous by nature (no o/O/0, l/I/1, c/C, s/S, t/T...): the first of each label.
LABELS = list("2345678abdefghnrBEGR")


def _env(settings, **extra) -> dict:
    return {
        "INKBUS_BROKER_URL": settings.broker_url,
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_LOG_JSON": "false",
        **extra,
    }


def _start_edge(settings, tmp, async_mode: str | None = None) -> tuple[Proc, str]:
    port = free_port()
    args = ["edge"] + (["--async-mode", async_mode] if async_mode else [])
    edge = Proc(inkbus_cmd(*args), _env(settings, INKBUS_PORT=str(port)), tmp / f"edge-{async_mode or 'default'}.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(base + "/readyz"), 60, what=f"edge ({async_mode or 'gevent'}) ready")
    except AssertionError:
        edge.kill()
        raise AssertionError(edge.output()[-3000:]) from None
    return edge, base


@pytest.fixture(scope="module")
def worker(settings, rabbit_url, tmp_path_factory):
    conn = connect(settings.broker, rabbit_url)
    declare_topology(conn.channel(), settings.queues)
    for q in (JOB_QUEUE_NAME, DEAD_LETTER_QUEUE_NAME):
        conn.channel().queue_purge(q)
    conn.release()
    proc = Proc(inkbus_cmd("worker"), _env(settings), tmp_path_factory.mktemp("socket-worker") / "worker.log")
    yield proc
    proc.kill()


@pytest.fixture(scope="module")
def edge(settings, worker, tmp_path_factory):
    proc, base = _start_edge(settings, tmp_path_factory.mktemp("socket-edge"))
    yield base
    proc.kill()


def _samples(labels=LABELS) -> list[dict]:
    rows = sample_ink()
    return [next(r for r in rows if r["label"] == label) for label in labels]


def test_real_samples_drawn_stroke_by_stroke_are_recognised(edge):
    hits, seqs = [], []
    with DrawingClient(edge, timeout=15) as client:
        for sample in _samples():
            last = client.draw(sample["strokes"])
            assert last, client.errors
            final = client.prediction(last)
            assert final is not None, f"no prediction for {sample['label']}: {client.errors}"
            assert set(final) == {"seq", "top", "shape", "model", "latency_ms", "stages_ms"} and len(final["top"]) == 3
            st = final["stages_ms"]  # stamped by the real edge and worker: each part of the edge's latency
            assert st["batch"] >= 1 and st["compute"] > 0 and min(st["queue"], st["reply"]) >= 0
            assert st["queue"] + st["compute"] + st["reply"] <= final["latency_ms"] + 1.0
            hits.append(final["top"][0]["label"] == sample["label"])
            assert client.send("clear", {}, ack=True)["ok"]
        seqs = [p["seq"] for p in client.predictions]
        assert client.errors == []
    assert seqs == sorted(set(seqs)), "a prediction arrived after a newer one"
    assert sum(hits) >= 0.8 * len(hits), f"top-1 right for {sum(hits)} of {len(hits)}"


def test_each_client_gets_its_own_predictions(edge):
    a_sample, b_sample = _samples(["3", "h"])
    results = {}

    def draw(name, sample):
        with DrawingClient(edge, timeout=15) as c:
            for _ in range(3):  # the same drawing again and again, interleaved with the other client
                seq = c.draw(sample["strokes"])
                assert c.prediction(seq) is not None
                c.send("clear", {}, ack=True)
            results[name] = c.predictions

    threads = [threading.Thread(target=draw, args=a) for a in (("a", a_sample), ("b", b_sample))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    tops = {name: {p["top"][0]["label"] for p in preds} for name, preds in results.items()}
    assert tops["a"] and tops["b"] and tops["a"].isdisjoint(tops["b"]), tops


def test_bad_events_get_coded_errors_and_the_edge_keeps_serving(edge):
    sample = _samples(["7"])[0]
    with DrawingClient(edge, timeout=15) as bad, DrawingClient(edge, timeout=15) as good:
        bad.send("stroke", {"id": 0, "points": [[1, 2, 3]] * 20_000})  # ~200 KB: above the event limit
        assert bad.error("payload_too_large") is not None
        bad.send("stroke", "junk")
        assert bad.error("invalid_event") is not None
        for i in range(300):
            bad.send("stroke", {"id": 0, "points": [[i, i, i]], "final": False})
        assert bad.error("rate_limited") is not None
        seq = good.draw(sample["strokes"])
        assert good.prediction(seq) is not None and good.errors == []
        assert bad.sio.connected
    with DrawingClient(edge, timeout=15) as again:
        assert again.prediction(again.draw(sample["strokes"])) is not None


def test_the_socket_client_script_draws_a_sample(edge):
    out = subprocess.run(
        [sys.executable, "-m", "tests.socket_client", "--url", edge, "--label", "7"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["label"] == "7" and line["seq"] >= 1 and len(line["top"]) == 3


@pytest.mark.parametrize("mode", ["threading", "eventlet"])
def test_other_async_modes_start_and_serve(settings, worker, tmp_path, mode):
    proc, base = _start_edge(settings, tmp_path, mode)
    try:
        digit = load_json("digit_7.json")
        res = requests.post(base + "/api/v1/recognize", json=digit, timeout=15)
        assert res.status_code == 200, res.text
        assert res.json()["top"][0]["label"] == digit["label"]
        assert requests.get(base + "/", timeout=5).status_code == 200
        sample = _samples(["7"])[0]
        with DrawingClient(base, timeout=15) as client:
            final = client.prediction(client.draw(sample["strokes"]))
            assert final is not None, client.errors
            assert final["top"][0]["label"] == "7"
    finally:
        proc.kill()
    # Nothing failed while serving. (Before it serves, eventlet may print a traceback of its own: it patches
    # after pydantic is imported and trips over a pydantic object, harmlessly.)
    assert "Traceback" not in proc.output().partition("Inkbus edge on")[2]
