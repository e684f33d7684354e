from __future__ import annotations

import os
import shutil
import subprocess
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

from bus.connection import broker_reachable, connect
from bus.topology import DEAD_LETTER_QUEUE_NAME, JOB_QUEUE_NAME, declare_topology
from tests.settings import TestSettings


def _private_vhost(url: str):
    """A throw-away RabbitMQ vhost for this test session, so parallel runs on one broker never share queues.

    Needs ``rabbitmqctl`` (CI runs as root beside the broker); elsewhere the given URL is used as it is.
    """
    ctl = shutil.which("rabbitmqctl")
    parts = urlsplit(url)
    if not ctl or parts.hostname not in {"127.0.0.1", "localhost"} or os.environ.get("INKBUS_TEST_SHARED_VHOST"):
        return url, None
    vhost = f"inkbus-test-{os.getpid()}"
    try:
        subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, parts.username or "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.SubprocessError, OSError):
        return url, None
    return urlunsplit(parts._replace(path="/" + vhost)), (ctl, vhost)


@pytest.fixture(scope="session")
def settings():
    base = TestSettings()
    if not broker_reachable(base):
        yield base
        return
    url, cleanup = _private_vhost(base.broker_url)
    os.environ["INKBUS_TEST_BROKER_URL"] = url  # child processes and later TestSettings() see it too
    yield base.model_copy(update={"broker_url": url})
    if cleanup:
        subprocess.run([cleanup[0], "delete_vhost", cleanup[1]], capture_output=True, timeout=60)


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


@pytest.fixture(scope="module")
def memory_worker(settings, recognizer):
    """One batching consumer on the in-process transport (``memory://``), for tests without a broker."""
    from workers.batcher import BatchingConsumer
    from workers.engine import RecognitionEngine

    worker = BatchingConsumer(settings, RecognitionEngine(recognizer, "memory-worker"), url="memory://")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.ready.wait(10), "in-process worker did not start"
    yield worker
    worker.stop()
    thread.join(5)


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
