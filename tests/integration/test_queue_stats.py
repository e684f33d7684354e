"""``bus.connection.read_queue_stats``: the one way to read queue statistics without a channel of one's own."""

from __future__ import annotations

from bus.connection import read_queue_stats
from bus.topology import JOB_QUEUE_NAME
from tests.helpers import free_port


def test_existing_missing_and_unreachable(settings, rabbit_url, clean_bus):
    missing = "inkbus.test.no-such-queue"
    stats = read_queue_stats(settings.broker, [JOB_QUEUE_NAME, missing], rabbit_url)
    assert stats[JOB_QUEUE_NAME] == (0, 0) and stats[missing] is None  # a missing queue spoils nothing else
    down = read_queue_stats(settings.broker, [JOB_QUEUE_NAME], f"amqp://guest:guest@127.0.0.1:{free_port()}//")
    assert down == {JOB_QUEUE_NAME: None}


def test_the_healthcheck_reads_consumers_through_it(settings, rabbit_url, clean_bus, start_worker, monkeypatch):
    import sys

    from foundation.settings import REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT / "ops" / "docker"))
    try:
        import healthcheck
    finally:
        sys.path.pop(0)
    monkeypatch.setenv("INKBUS_BROKER_URL", rabbit_url)
    assert healthcheck.main(["--queue", JOB_QUEUE_NAME]) == 1  # nobody consumes yet
    start_worker(rabbit_url)
    assert healthcheck.main(["--queue", JOB_QUEUE_NAME]) == 0
