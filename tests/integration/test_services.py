"""The private servers a test run starts for itself (tests/services.py): usable, private, gone afterwards."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from kombu import Connection

from tests.conftest import PRIVATE_BROKER
from tests.external import missing
from tests.helpers import port_open
from tests.services import ServiceError, start_postgres, start_rabbitmq


def _queue_exists(url: str, name: str) -> bool:
    with Connection(url, connect_timeout=5) as conn:
        try:
            conn.default_channel.queue_declare(name, passive=True)
            return True
        except Exception:  # amqp's NotFound closes the channel: the queue is not there
            return False


def test_a_second_run_gets_a_broker_of_its_own(settings, rabbit_url, pytestconfig):
    if not pytestconfig.stash.get(PRIVATE_BROKER, False):
        pytest.skip("this run was pointed at an existing broker (INKBUS_TEST_BROKER_URL)")
    try:
        other = start_rabbitmq()
    except ServiceError as exc:
        missing(str(exc))
    try:
        ports = {urlsplit(rabbit_url).port, urlsplit(other.url).port}
        assert len(ports) == 2 and 5672 not in ports, "private brokers listen on free ports"
        with Connection(other.url, connect_timeout=5) as conn:
            conn.default_channel.queue_declare("inkbus.test.private", auto_delete=False)
        assert _queue_exists(other.url, "inkbus.test.private")
        assert not _queue_exists(rabbit_url, "inkbus.test.private"), "two runs must not share queues"
    finally:
        other.stop()
    assert not port_open(urlsplit(other.url).port) and not other.workdir.exists()


def test_a_private_postgres_cluster_takes_databases_and_goes_away():
    import psycopg

    try:
        pg = start_postgres()
    except ServiceError as exc:
        missing(str(exc))
    try:
        port = urlsplit(pg.url).port
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE inkbus_probe")
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert "inkbus_probe" in names and port != 5432
    finally:
        pg.stop()
    assert not port_open(port) and not pg.workdir.exists()
