"""Tutoring against real services: the progress store on PostgreSQL, and a practice attempt through RabbitMQ
(edge -> worker -> feedback engine -> edge and the Slack stand-in)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import contextmanager

import pytest

from tests.external import missing
from tests.helpers import sample_ink, wait_until
from tests.standins import StandIn


@contextmanager
def throwaway_database(postgres_url: str):
    """A fresh database on the tests' PostgreSQL server (tests/conftest.py) as a SQLAlchemy URL, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(postgres_url)
    try:
        admin = psycopg.connect(server.set(drivername="postgresql").render_as_string(False), autocommit=True)
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL is not reachable at {server.render_as_string()}: {exc}")
    name = f"inkbus_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def pg_url(postgres_url):
    """A throw-away PostgreSQL database for this test module."""
    with throwaway_database(postgres_url) as url:
        yield url


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


def practise(app, sio, label: str):
    """A page (its cookie) draws ``label`` on its socket and asks ``check``, naming another learner; the feedback."""
    http = app.test_client()
    http.get("/")  # the page view issues this browser's signed learner identity
    with http.session_transaction() as sess:
        me = sess["learner"]
    client = sio.test_client(app, flask_test_client=http)  # the socket carries the page's cookie
    sample = next(r for r in sample_ink() if r["label"] == label)
    for i, stroke in enumerate(sample["strokes"]):
        client.emit("stroke", {"id": i, "points": stroke, "final": True}, callback=True)
    ack = client.emit("check", {"target": label, "learner": "ann"}, callback=True)  # a typed name names nobody
    assert ack["ok"], ack
    received: list = []

    def feedback():
        received.extend(client.get_received())
        return next((m["args"][0] for m in received if m["name"] == "feedback" and m["args"][0]["mode"] == "practice"),
                    None)  # fmt: skip

    return http, client, me, ack, wait_until(feedback, 20, interval=0.05, what="feedback on the page's socket")


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
        http, client, me, ack, fb = practise(app, sio, "3")
        assert fb["job_id"] == ack["job_id"] and fb["mode"] == "practice" and fb["target"] == "3"
        assert fb["correct"] is True and fb["streak"] == 1 and fb["attempt_id"] == 1 and fb["recorded"] is True
        assert fb["learner"] == me and store.stats("ann")["attempts"] == 0
        post = wait_until(lambda: slack_api.calls("/chat.postMessage"), 20, what="chat.postMessage")[0]
        assert post["body"]["channel"] == "C-PRACTICE" and f"{me} practised 3" in post["body"]["text"]
        chat = http.post("/api/v1/chat", json={"text": "stats"}).get_json()
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


ROUND_ZERO = [[[50, 0], [22, 8], [6, 30], [2, 55], [10, 80], [30, 97], [55, 100], [78, 90], [94, 65], [98, 40],
               [88, 15], [70, 3], [50, 0]]]  # fmt: skip


def test_a_practice_verdict_is_made_by_the_worker_with_the_attempts_target(
    settings, rabbit_url, clean_bus, start_worker, tmp_path
):
    """The same round zero, checked against three targets: the worker grades each with the target the job
    carried (its prediction event says so), and the page's feedback follows that verdict."""
    from kombu import Queue

    from bus.topology import EVENTS_EXCHANGE
    from tutor.engine import FeedbackEngine
    from tutor.store import open_store
    from web.app import create_app

    store = open_store(settings, f"sqlite:///{tmp_path / 'progress.db'}")
    start_worker(rabbit_url)
    engine = FeedbackEngine(settings, store, url=rabbit_url)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    app, sio = create_app(settings, broker_url=rabbit_url, store=store)
    tap = clean_bus.channel()
    spy = Queue(f"test.predictions.{uuid.uuid4().hex[:8]}", EVENTS_EXCHANGE, "prediction.*", exclusive=True)
    spy(tap).declare()
    try:
        assert engine.ready.wait(10)
        wait_until(lambda: app.extensions["inkbus.bridge"].consuming, 10, what="edge consuming")
        client = sio.test_client(app)
        client.emit("stroke", {"id": 0, "points": ROUND_ZERO[0], "final": True}, callback=True)
        verdicts = {}
        for target in ("0", "O", "8"):
            ack = client.emit("check", {"target": target, "learner": "zoe"}, callback=True)
            assert ack["ok"], ack

            def feedback(job_id=ack["job_id"], received=[]):  # noqa: B006 - one list per target, kept across polls
                received.extend(client.get_received())
                return next((m["args"][0] for m in received if m["name"] == "feedback" and
                             m["args"][0]["job_id"] == job_id), None)  # fmt: skip

            verdicts[target] = (ack["job_id"], wait_until(feedback, 20, interval=0.05, what=f"feedback for {target}"))
        events = {}  # the live guesses of the strokes pass here too
        while not {job_id for job_id, _ in verdicts.values()} <= set(events):
            msg = wait_until(lambda: spy(tap).get(no_ack=True), 10, interval=0.05, what="prediction events")
            events[msg.payload["job_id"]] = msg.payload
        for target, (job_id, fb) in verdicts.items():
            practice = events[job_id]["practice"]
            assert practice["target"] == target  # graded with the target the job carried
            assert fb["correct"] is practice["correct"]
        assert verdicts["0"][1]["correct"] and verdicts["O"][1]["correct"]  # a round zero is a good 0 and O
        assert verdicts["8"][1]["correct"] is False
        assert "tell" in verdicts["0"][1]["hint"] or "on a line" in verdicts["0"][1]["hint"]
        client.disconnect()
    finally:
        engine.stop()
        app.extensions["inkbus.bridge"].stop()
        thread.join(5)
        store.close()


def test_practice_is_graded_while_the_database_is_down(settings, rabbit_url, clean_bus, start_worker):
    """The store's database refuses connections: the page still gets its grade, saying it was not recorded."""
    from tutor.engine import FeedbackEngine
    from tutor.store import Store, make_engine
    from web.app import create_app

    down = Store(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/inkbus"))  # nothing listens on port 1
    start_worker(rabbit_url)
    engine = FeedbackEngine(settings, down, url=rabbit_url)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    app, sio = create_app(settings, broker_url=rabbit_url, store=down)
    try:
        assert engine.ready.wait(10)
        wait_until(lambda: app.extensions["inkbus.bridge"].consuming, 10, what="edge consuming")
        _http, client, me, ack, fb = practise(app, sio, "3")
        assert fb["job_id"] == ack["job_id"] and fb["learner"] == me and fb["correct"] is True
        assert fb["recorded"] is False and fb["attempt_id"] is None
        client.disconnect()
    finally:
        engine.stop()
        app.extensions["inkbus.bridge"].stop()
        thread.join(5)
        down.close()
