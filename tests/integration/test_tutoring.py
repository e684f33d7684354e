"""Tutoring against real services: the progress store on PostgreSQL, and a practice attempt through RabbitMQ
(edge -> worker -> feedback engine -> edge and the Slack stand-in)."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest

from tests.helpers import sample_ink, wait_until
from tests.ops_tools import missing
from tests.standins import StandIn


@pytest.fixture(scope="module")
def pg_url(postgres_url):
    """A throw-away PostgreSQL database on the tests' server (tests/conftest.py), dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(postgres_url)
    try:
        admin = psycopg.connect(server.set(drivername="postgresql").render_as_string(False), autocommit=True)
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL is not reachable at {server.render_as_string()}: {exc}")
    name = f"inkbus_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    yield server.set(database=name).render_as_string(False)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_the_progress_store_on_postgresql(settings, pg_url):
    from tutor.store import open_store

    store = open_store(settings, pg_url)
    open_store(settings, pg_url).close()  # migrating again is a no-op
    ink = {"strokes": [[[0, 0], [5, 9]]]}
    for i, ok in enumerate([False, True, True]):
        store.record_attempt(job_id=f"pg-{i}", learner="ann", target="4", predicted="4" if ok else "9",
                             confidence=0.9, correct=ok, ink=ink, latency_ms=3.0)  # fmt: skip
    assert store.record_attempt(job_id="pg-2", learner="ann", target="4", predicted="4", confidence=0.9,
                                correct=True, ink=ink) == (3, 2)  # fmt: skip
    s = store.stats("ann")
    assert (s["attempts"], s["correct"], s["streak"], s["best_streak"]) == (3, 2, 2, 2)
    assert s["most_missed"] == [{"char": "4", "misses": 1}]
    store.correct_latest("ann", "q")
    assert list(store.corrections()) == [{"label": "q", "writer": "inkbus/ann", "strokes": ink["strokes"]}]
    assert store.forget("ann") == 4
    store.close()


def test_a_practice_attempt_through_rabbitmq_reaches_the_page_and_slack(
    settings, rabbit_url, clean_bus, start_worker, tmp_path
):
    from slack_sdk import WebClient

    from chatbots.feed import BusFeed
    from chatbots.slack import SlackPoster
    from tutor.engine import FeedbackEngine
    from tutor.store import open_store
    from web.app import create_app

    s = settings.model_copy(update={"slack_channel": "C-PRACTICE"})
    store = open_store(s, f"sqlite:///{tmp_path / 'progress.db'}")
    start_worker(rabbit_url)
    engine = FeedbackEngine(s, store, url=rabbit_url)
    slack_api = StandIn()
    feed = BusFeed(s, [SlackPoster(s, WebClient("xoxb-test", base_url=slack_api.url + "/"))], url=rabbit_url)
    threads = [threading.Thread(target=x.run, daemon=True) for x in (engine, feed)]
    for t in threads:
        t.start()
    app, sio = create_app(s, broker_url=rabbit_url, store=store)
    try:
        assert engine.ready.wait(10) and feed.ready.wait(10)
        wait_until(lambda: app.extensions["inkbus.bridge"].consuming, 10, what="edge consuming")
        client = sio.test_client(app)
        sample = next(r for r in sample_ink() if r["label"] == "3")
        for i, stroke in enumerate(sample["strokes"]):
            client.emit("stroke", {"id": i, "points": stroke, "final": True}, callback=True)
        ack = client.emit("check", {"target": "3", "learner": "ann"}, callback=True)
        assert ack["ok"], ack
        received: list = []

        def feedback():
            received.extend(client.get_received())
            return next((m["args"][0] for m in received if m["name"] == "feedback"), None)

        fb = wait_until(feedback, 20, interval=0.05, what="feedback on the page's socket")
        assert fb["job_id"] == ack["job_id"] and fb["mode"] == "practice" and fb["target"] == "3"
        assert fb["correct"] is True and fb["streak"] == 1 and fb["attempt_id"] == 1
        post = wait_until(lambda: slack_api.calls("/chat.postMessage"), 20, what="chat.postMessage")[0]
        assert post["body"]["channel"] == "C-PRACTICE" and "ann practised 3" in post["body"]["text"]
        chat = app.test_client().post("/api/v1/chat", json={"text": "stats", "learner": "ann"}).get_json()
        assert chat["reply"]["data"]["attempts"] == 1 and chat["reply"]["data"]["streak"] == 1
        status = app.test_client().post("/api/v1/chat", json={"text": "status"}).get_json()["reply"]["data"]
        assert status["workers"] >= 1 and status["model"]
        client.disconnect()
    finally:
        engine.stop()
        feed.stop()
        app.extensions["inkbus.bridge"].stop()
        for t in threads:
            t.join(5)
        slack_api.close()
        store.close()
        time.sleep(0.1)
