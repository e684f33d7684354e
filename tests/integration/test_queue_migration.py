"""A broker that holds the classic queues of an older Inkbus: declaring today's topology never fails.

The older declarations are written out literally below (as they were before quorum queues), in a vhost
of this test's own, so the session's vhost, where today's topology is already declared, is not touched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from kombu import Consumer, Exchange, Queue, binding

from bus.connection import connect
from bus.migrate import migrate_queues, topology_queues
from bus.schemas import RecognizeJob
from bus.topology import (
    BOTS,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE_NAME,
    EVENTS_EXCHANGE,
    FEEDBACK_ENGINE,
    JOB_QUEUE_NAME,
    JOBS_EXCHANGE,
    RK_RECOGNIZE,
    TELEMETRY_SINK,
    declare_topology,
    job_queue,
)
from producers.publisher import JobPublisher
from tests.helpers import sample_ink

ctl = shutil.which("rabbitmqctl")
pytestmark = pytest.mark.skipif(ctl is None, reason="needs rabbitmqctl beside the broker to make a vhost")


def _ctl(pytestconfig):
    """rabbitmqctl against the run's broker: its private node when it started one, else the host's."""
    from tests.conftest import BROKER_SERVICE

    broker = pytestconfig.stash.get(BROKER_SERVICE, None)
    if broker is not None:
        return broker.ctl
    return lambda *args: subprocess.run([ctl, *args], check=True, capture_output=True, text=True, timeout=60)


@pytest.fixture
def legacy_url(settings, rabbit_url, pytestconfig):
    parts = urlsplit(rabbit_url)
    if parts.hostname not in {"127.0.0.1", "localhost"}:
        pytest.skip("rabbitmqctl can only make a vhost on a local broker")
    run = _ctl(pytestconfig)
    vhost = f"inkbus-legacy-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    run("add_vhost", vhost)
    run("set_permissions", "-p", vhost, parts.username or "guest", ".*", ".*", ".*")
    yield urlunsplit(parts._replace(path="/" + vhost))
    try:
        run("delete_vhost", vhost)
    except subprocess.SubprocessError:
        pass


def _declare_older_topology(conn, settings) -> None:
    """The queues exactly as the single-node release declared them: all classic."""
    ch = conn.channel()
    bounded = {"x-message-ttl": settings.feedback_queue_ttl_ms, "x-max-length": settings.feedback_queue_max}
    old = [
        Queue(JOB_QUEUE_NAME, JOBS_EXCHANGE, routing_key=RK_RECOGNIZE, durable=True,
              queue_arguments={"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name, "x-queue-type": "classic"}),
        Queue(DEAD_LETTER_QUEUE_NAME, DEAD_LETTER_EXCHANGE, durable=True,
              queue_arguments={"x-message-ttl": settings.dead_letter_ttl_ms, "x-max-length": settings.dead_letter_max}),
        Queue(f"inkbus.sub.{FEEDBACK_ENGINE}", EVENTS_EXCHANGE, durable=True, queue_arguments=bounded,
              bindings=[binding(EVENTS_EXCHANGE, routing_key=k) for k in ("prediction.*", "error.*")]),
        Queue(f"inkbus.sub.{BOTS}", EVENTS_EXCHANGE, durable=True, queue_arguments=bounded,
              bindings=[binding(EVENTS_EXCHANGE, routing_key=k) for k in ("feedback.*", "alert.*")]),
        Queue(f"inkbus.sub.{TELEMETRY_SINK}", EVENTS_EXCHANGE, durable=True,
              queue_arguments={"x-max-length": settings.sink_queue_max},
              bindings=[binding(EVENTS_EXCHANGE, routing_key=k) for k in ("prediction.*", "feedback.*")]),
    ]  # fmt: skip
    for q in old:
        q(ch).declare()
    Exchange("inkbus.control", type="fanout", durable=False)(ch).declare()


def _types(url: str, run) -> dict[str, str]:
    vhost = urlsplit(url).path.lstrip("/")
    out = run("list_queues", "-p", vhost, "name", "type", "--formatter", "json")
    return {row["name"]: row["type"] for row in json.loads(out.stdout)}


def test_todays_topology_is_declared_over_the_older_classic_queues(settings, legacy_url, caplog, pytestconfig):
    s = settings.model_copy(update={"broker_url": legacy_url})
    conn = connect(s.broker)
    _declare_older_topology(conn, s)
    assert set(_types(legacy_url, _ctl(pytestconfig)).values()) == {"classic"}

    # What every process does when it starts: declare, set its prefetch, consume. Nothing raises.
    with caplog.at_level(logging.WARNING, logger="inkbus.bus"):
        ch = conn.channel()
        declare_topology(ch, s.queues)
        ch.basic_qos(0, 7, False)
        consumers = [Consumer(ch, [q], accept=["json"]) for q in topology_queues(s.queues)]
        for c in consumers:
            c.consume()
    kept = [r.getMessage() for r in caplog.records if "kept as the broker holds it" in r.getMessage()]
    assert len(kept) >= len(topology_queues(s.queues)), kept
    # The caller's channel was never closed by a 406: it still consumes with its prefetch.
    assert ch.is_open
    for c in consumers:
        c.cancel()

    # Jobs still flow through the old classic job queue.
    pub = JobPublisher(s)
    job = RecognizeJob(ink={"strokes": sample_ink()[0]["strokes"]})
    try:
        pub.publish(job)
    finally:
        pub.close()
    got = job_queue(s.job_queue_type)(conn.channel()).get(accept=["json"])
    assert got is not None and got.payload["job_id"] == job.job_id
    got.ack()

    # The migration re-creates the empty ones and keeps one that holds messages.
    conn.default_channel.basic_publish(
        conn.default_channel.prepare_message(b"{}"), exchange=EVENTS_EXCHANGE.name, routing_key="prediction.none"
    )
    dry = dict(migrate_queues(s, dry_run=True))
    assert all(v.startswith("older declaration") for v in dry.values()), dry
    done = dict(migrate_queues(s))
    assert done[f"inkbus.sub.{FEEDBACK_ENGINE}"].startswith("kept")
    assert done[f"inkbus.sub.{TELEMETRY_SINK}"].startswith("kept")  # it bound prediction.* too
    assert done[DEAD_LETTER_QUEUE_NAME] == "re-created (quorum)" and done[f"inkbus.sub.{BOTS}"] == "re-created (quorum)"
    assert done[JOB_QUEUE_NAME] == "re-created (classic)"
    types = _types(legacy_url, _ctl(pytestconfig))
    assert types[DEAD_LETTER_QUEUE_NAME] == "quorum" and types[f"inkbus.sub.{FEEDBACK_ENGINE}"] == "classic"
    assert dict(migrate_queues(s))[DEAD_LETTER_QUEUE_NAME] == "up to date"
    conn.release()

    # The command: the two queues that still hold messages are reported, and it says so by its exit status.
    from click.testing import CliRunner

    from inkbus.cluster_cli import migrate_queues as command

    res = CliRunner().invoke(command, [], env={"INKBUS_BROKER_URL": legacy_url})
    assert res.exit_code == 1 and res.output.count(": kept") == 2, res.output
    assert CliRunner().invoke(command, ["--dry-run"], env={"INKBUS_BROKER_URL": legacy_url}).exit_code == 0
