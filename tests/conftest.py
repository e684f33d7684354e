from __future__ import annotations

import os
import shutil
import subprocess
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

from bus.connection import broker_reachable, connect
from bus.topology import DEAD_LETTER_QUEUE_NAME, JOB_QUEUE_NAME, declare_topology
from tests.external import missing
from tests.helpers import free_port
from tests.services import ServiceError, start_postgres, start_rabbitmq
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


# Why this run has no private broker, for the tests that need one.
_BROKER_PROBLEM: list[str | None] = [None]
PRIVATE_BROKER = pytest.StashKey[bool]()  # whether this run started its own broker
BROKER_SERVICE = pytest.StashKey[object]()  # that broker (tests/services.py:Service), for broker_ctl


def _needs_broker(session) -> bool:
    """Only a run with integration tests pays for a broker; unit and browser tests use the in-process transport."""
    return any(item.get_closest_marker("integration") for item in session.items)


def _start(kind: str):
    """A private server for this run, or the reason there is none (``rabbit_url``/``postgres_url`` report it)."""
    try:
        return (start_rabbitmq if kind == "rabbitmq" else start_postgres)(), None
    except ServiceError as exc:
        return None, str(exc)


@pytest.fixture(scope="session")
def settings(request):
    """TestSettings; with integration tests in the run, its broker is ``INKBUS_TEST_BROKER_URL`` (in a vhost
    of its own) or else a private RabbitMQ started for this run (tests/services.py)."""
    base = TestSettings()
    if not _needs_broker(request.session):
        yield base
        return
    given = os.environ.get("INKBUS_TEST_BROKER_URL")
    broker, cleanup = None, None
    if given:
        url, cleanup = _private_vhost(given)
    else:
        broker, _BROKER_PROBLEM[0] = _start("rabbitmq")
        request.config.stash[PRIVATE_BROKER] = broker is not None
        request.config.stash[BROKER_SERVICE] = broker
        # Nothing listens on a fresh free port: tests that need the broker fail or skip with the reason.
        url = broker.url if broker else f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    saved = os.environ.get("INKBUS_TEST_BROKER_URL")
    os.environ["INKBUS_TEST_BROKER_URL"] = url  # child processes and later TestSettings() see it too
    yield base.model_copy(update={"broker_url": url})
    if saved is None:
        os.environ.pop("INKBUS_TEST_BROKER_URL", None)
    if cleanup:
        subprocess.run([cleanup[0], "delete_vhost", cleanup[1]], capture_output=True, timeout=60)
    if broker:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server URL whose user may create databases: ``INKBUS_TEST_DATABASE_URL``, else a private
    cluster started for this run. Tests make their own database on it (see tests/integration/test_tutoring.py)."""
    given = os.environ.get("INKBUS_TEST_DATABASE_URL")
    if given:
        yield given
        return
    server, problem = _start("postgres")
    if server is None:
        missing(f"no PostgreSQL for the tests: {problem}")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def recognizer(settings):
    from ml.recognizer import Recognizer

    return Recognizer(settings.model_path)


@pytest.fixture(scope="session")
def rabbit_url(settings) -> str:
    if not broker_reachable(settings.broker):
        missing(_BROKER_PROBLEM[0] or f"RabbitMQ is not reachable at {settings.broker_url} (INKBUS_TEST_BROKER_URL)")
    return settings.broker_url


@pytest.fixture
def broker_ctl(rabbit_url, pytestconfig):
    """``broker_ctl("stop_app")``: rabbitmqctl against this run's private broker. A broker named by
    INKBUS_TEST_BROKER_URL may be shared with other runs: tests that stop it are skipped there."""
    broker = pytestconfig.stash.get(BROKER_SERVICE, None)
    if broker is None:
        pytest.skip("stops the broker: only done to the private one a run starts (INKBUS_TEST_BROKER_URL is set)")
    return broker.ctl


@pytest.fixture
def clean_bus(settings, rabbit_url):
    """The durable topology declared and its queues empty, before and after the test."""
    conn = connect(settings.broker, rabbit_url)
    ch = conn.channel()
    declare_topology(ch, settings.queues)
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
