from __future__ import annotations

import os
import threading

import pytest

from bus.connection import broker_reachable, connect
from bus.topology import DEAD_LETTER_QUEUE_NAME, JOB_QUEUE_NAME, declare_topology
from tests.settings import TestSettings


@pytest.fixture(scope="session")
def settings() -> TestSettings:
    return TestSettings()


@pytest.fixture(scope="session")
def recognizer(settings):
    from ml.recognizer import Recognizer

    return Recognizer(settings.model_path)


@pytest.fixture(scope="session")
def rabbit_url(settings) -> str:
    if not broker_reachable(settings):
        msg = f"RabbitMQ is not reachable at {settings.broker_url} (.ci/run starts it)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return settings.broker_url


@pytest.fixture
def clean_bus(settings, rabbit_url):
    """The durable topology declared and its queues empty, before and after the test."""
    conn = connect(settings, rabbit_url)
    ch = conn.channel()
    declare_topology(ch, settings)
    for q in (JOB_QUEUE_NAME, DEAD_LETTER_QUEUE_NAME):
        ch.queue_purge(q)
    yield conn
    for q in (JOB_QUEUE_NAME, DEAD_LETTER_QUEUE_NAME):
        try:
            conn.channel().queue_purge(q)
        except Exception:
            pass
    conn.release()


@pytest.fixture
def start_worker(settings, recognizer):
    """Start in-thread batching consumers: ``start_worker(url, **setting_overrides)``."""
    from workers.batcher import BatchingConsumer
    from workers.engine import RecognitionEngine

    started = []

    def _start(url: str, name: str = "test-worker", **overrides):
        s = settings.model_copy(update=overrides)
        c = BatchingConsumer(s, RecognitionEngine(recognizer, name), url=url)
        t = threading.Thread(target=c.run, daemon=True)
        t.start()
        started.append((c, t))
        assert c.ready.wait(10), "worker did not start consuming"
        return c

    yield _start
    for c, t in started:
        c.stop()
        t.join(timeout=10)
