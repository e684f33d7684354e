"""docs/LEARNING_LOOP.md, followed end to end on small data over RabbitMQ: learners practise and correct on the
page, a snapshot freezes their drawings, retrain fine-tunes the serving model, promote gates and publishes it,
and the same page, with no restart, is answered by the new version; then a rollback brings the old one back."""

from __future__ import annotations

import json
import os
import threading

import pytest
from click.testing import CliRunner

from inkbus.cli import main as cli
from ml.registry import read_meta
from tests.helpers import sample_ink, wait_until
from tests.synthetic_data import make_data_dir

pytestmark = pytest.mark.timeout(900)
LEARNERS = range(6)  # six pages, six signed identities


def _received(client, box: list, name: str, pred=lambda a: True):
    box.extend(client.get_received())
    return next((m["args"][0] for m in box if m["name"] == name and pred(m["args"][0])), None)


def _draw(client, strokes) -> None:
    client.emit("clear", {}, callback=True)
    for i, stroke in enumerate(strokes):
        client.emit("stroke", {"id": i, "points": stroke, "final": True}, callback=True)


def _practise(app, sio, rows: list[dict]) -> str:
    """One learner's page (its own signed cookie): draw each asked character, then "correct <char>" in the chat box.

    Returns the learner's server-issued identity (from their own data export)."""
    http = app.test_client()
    http.get("/")  # the page view issues the learner's identity
    client = sio.test_client(app, flask_test_client=http)
    box: list = []
    for row in rows:
        _draw(client, row["strokes"])
        ack = client.emit("check", {"target": row["label"]}, callback=True)
        assert ack["ok"], ack
        wait_until(lambda a=ack: _received(client, box, "feedback", lambda f: f["job_id"] == a["job_id"]), 30,
                   what="feedback for the learner")  # fmt: skip
    said = http.post("/api/v1/chat", json={"text": f"correct {rows[-1]['label']}"})
    assert said.get_json()["reply"]["data"]["correction_id"], said.get_json()
    client.disconnect()
    return http.get("/api/v1/me/data").get_json()["learner"]


def _sides(learners: list[str]) -> set[bool]:
    from tutor.snapshot import held_out, pseudonym

    return {held_out(pseudonym(x), float(os.environ["INKBUS_SNAPSHOT_HOLDOUT_FRACTION"])) for x in learners}


def _page_model(client) -> str:
    """Draw on the page in free mode and return the version named by the prediction it shows."""
    box: list = []
    _draw(client, sample_ink()[0]["strokes"])
    return wait_until(lambda: _received(client, box, "prediction"), 30, what="a prediction on the page")["model"]


def _run(args: list[str]) -> tuple[int, dict]:
    res = CliRunner().invoke(cli, args)
    return res.exit_code, json.loads(res.stdout) if res.stdout.strip() else {}


def test_the_learning_loop_walk_through(settings, rabbit_url, clean_bus, tmp_path, monkeypatch):
    from ml.serving import open_recognizer
    from tutor.engine import FeedbackEngine
    from tutor.store import open_store
    from web.app import create_app
    from workers.batcher import BatchingConsumer
    from workers.engine import RecognitionEngine
    from workers.swap import initial_model, start_serving

    env = {
        "INKBUS_BROKER_URL": rabbit_url,
        "INKBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'progress.db'}",
        "INKBUS_DATA_DIR": str(make_data_dir(tmp_path / "data", n_ink=300, n_images=128)),
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_MODEL_REGISTRY": str(tmp_path / "registry"),
        "INKBUS_MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "INKBUS_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "INKBUS_SNAPSHOT_LEARNER_SHARE": "1",  # six learners: a smaller share would cap them to a sample each
        "INKBUS_SNAPSHOT_HOLDOUT_FRACTION": "0.4",
        "INKBUS_LOG_JSON": "false",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from foundation.settings import Settings

    typed = Settings()  # the environment above, parsed as the commands will parse it
    s = settings.model_copy(update={k.removeprefix("INKBUS_").lower(): getattr(typed, k.removeprefix("INKBUS_").lower())
                                    for k in env if k != "INKBUS_BROKER_URL"} | {"broker_url": rabbit_url})  # fmt: skip
    store = open_store(s)
    swapper = start_serving(s, "walk-worker")
    worker = BatchingConsumer(s, RecognitionEngine(swapper.current(), "walk-worker"), url=rabbit_url, swapper=swapper)
    feedback = FeedbackEngine(s, store, url=rabbit_url)
    threads = [threading.Thread(target=x.run, daemon=True) for x in (worker, feedback)]
    for t in threads:
        t.start()
    app, sio = create_app(s, broker_url=rabbit_url, store=store)
    shipped = read_meta(settings.model_path)["version"]
    try:
        assert worker.ready.wait(10) and feedback.ready.wait(10)
        wait_until(lambda: app.extensions["inkbus.bridge"].consuming, 10, what="edge consuming")
        page = sio.test_client(app)
        assert _page_model(page) == shipped

        # 1. learners practise on the page and correct their drawings. Identities are random, and the hold-out
        # side is chosen by a hash of each one: more learners come until both sides have someone (1 run in 20)
        rows = sample_ink()
        learners: list[str] = []
        while len(learners) < len(LEARNERS) or len(_sides(learners)) < 2:
            i = len(learners)
            learners.append(_practise(app, sio, rows[(i * 4) % 200 : (i * 4) % 200 + 4]))
            assert len(learners) <= 30, "every learner hashed to one side of the hold-out split"

        # 2. snapshot
        code, manifest = _run(["dataset", "snapshot"])
        assert code == 0 and manifest["by_source"]["correction"] == len(learners)
        assert manifest["samples"]["train"] and manifest["samples"]["holdout"]

        # 3. retrain from the serving model (registered as serving the first time)
        candidate = tmp_path / "walk-2.pt"
        code, out = _run(["retrain", "--dry-run", "--version", "walk-2", "--out", str(candidate), "--device", "auto"])
        assert code == 0, out
        assert out["parent"] == shipped and out["snapshot"]["sha256"] == manifest["sha256"]

        # 4. promote: the gate decides; on junk data it may well refuse, and then --force (with a reason) is logged
        code, verdict = _run(["promote", str(candidate), "--bootstrap", "200"])
        assert verdict.get("version") == "walk-2" and verdict["against"] == shipped, (code, verdict)
        assert "learners:top1" in verdict["figures"] and "validation:false_rejection" in verdict["figures"]
        if code != 0:
            assert code == 1 and verdict["promoted"] is False and verdict["reasons"]
            assert _run(["promote", str(candidate), "--force"])[0] == 2  # a forced promotion must say why
            code, verdict = _run(["promote", str(candidate), "--force", "--reason", "walk-through on junk data"])
            assert verdict["forced"] is True
        assert code == 0 and verdict["promoted"] is True
        # ONNX Runtime workers follow as well: promote registered the version's ONNX export beside it
        onnx_side = s.model_copy(update={"runtime": "onnx", "model_from_registry": True})
        path, _ = initial_model(onnx_side)
        assert path.suffix == ".onnx" and open_recognizer(onnx_side, path=path).version == "walk-2"

        # 5. the same page, no restart: the worker switched between batches; the API says what serves
        wait_until(lambda: _page_model(page) == "walk-2", 120, what="the page answered by walk-2")
        body = app.test_client().get("/api/v1/model").get_json()
        assert body["version"] == "walk-2" and body["source"] == "registry" and "overall:top1" in body["figures"]
        code, shown = _run(["models", "show"])
        assert shown["serving"] and shown["gate"]["against"] == shipped

        # 6. rollback: the same notice, naming the older version
        code, note = _run(["models", "rollback", "--reason", "walk-through"])
        assert code == 0 and note["version"] == shipped and note["rollback"] is True
        wait_until(lambda: _page_model(page) == shipped, 120, what="the page answered by the shipped model again")
        page.disconnect()
    finally:
        worker.stop()
        feedback.stop()
        app.extensions["inkbus.bridge"].stop()
        for t in threads:
            t.join(5)
        store.close()


def test_the_scheduled_loop_reports_its_outcome_to_the_ops_channel(
    settings, rabbit_url, clean_bus, tmp_path, monkeypatch
):
    from tests.loop_tools import AlertTap

    for k, v in {
        "INKBUS_BROKER_URL": rabbit_url,
        "INKBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "INKBUS_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "INKBUS_MODEL_REGISTRY": str(tmp_path / "registry"),
        "INKBUS_RETRAIN_DIR": str(tmp_path / "retrain"),
    }.items():
        monkeypatch.setenv(k, v)
    alerts = AlertTap(settings, rabbit_url)
    try:
        assert CliRunner().invoke(cli, ["loop", "--dry-run"]).exit_code == 0  # no learner has drawn anything yet
        (tmp_path / "not-a-folder").write_text("")
        monkeypatch.setenv("INKBUS_SNAPSHOT_DIR", str(tmp_path / "not-a-folder"))
        assert CliRunner().invoke(cli, ["loop", "--dry-run"]).exit_code == 1
        found = wait_until(lambda: alerts.alerts if len(alerts.alerts) >= 2 else None, 20, what="two alerts")
    finally:
        alerts.close()
    assert [(a["level"], a["title"]) for a in found] == [
        ("info", "learning loop: nothing new to learn"),
        ("error", "learning loop failed at snapshot"),
    ]
    assert "FileExistsError" in found[1]["text"] or "NotADirectoryError" in found[1]["text"]
