"""Failover against the real broker, without a cluster: a node list whose first node is down, and a job that
no queue takes (what a publisher sees while a cluster re-declares the job queue on a surviving node).
The three-node cluster itself is tests/integration/test_cluster.py."""

from __future__ import annotations

import pytest

from bus.connection import broker_reachable, connect, ensure_connected
from bus.schemas import RecognizeJob
from bus.topology import JOB_QUEUE_NAME
from producers.publisher import BusUnavailable, JobPublisher
from tests.helpers import free_port, sample_ink, wait_until


def _dead_node_first(rabbit_url: str) -> str:
    # A port nothing listens on stands for a node that died; kombu must move on to the live one.
    return f"amqp://guest:guest@127.0.0.1:{free_port()}//;{rabbit_url}"


def test_a_node_list_whose_first_node_is_down_connects_to_the_next(settings, rabbit_url):
    url = _dead_node_first(rabbit_url)
    assert broker_reachable(settings.broker, url)
    conn = connect(settings.broker, url)
    try:
        ensure_connected(conn, settings.broker)
        assert conn.connected and str(conn.port) in rabbit_url
    finally:
        conn.release()


def test_workers_and_publisher_fail_over_to_the_next_node(settings, rabbit_url, clean_bus, start_worker):
    from tests.integration.conftest import Collector

    url = _dead_node_first(rabbit_url)
    start_worker(url)
    collector = Collector(settings, url)
    try:
        job = RecognizeJob(ink={"strokes": sample_ink()[0]["strokes"]}, reply_to=collector.edge_id)
        collector.bridge.submit(job)
        wait_until(lambda: collector.delivered[job.job_id] == 1, 30, what="the answer through the second node")
        assert collector.events[job.job_id]["type"] == "prediction"
    finally:
        collector.close()


def test_a_job_no_queue_takes_is_refused_not_lost(settings, rabbit_url, clean_bus):
    pub = JobPublisher(settings, rabbit_url)
    job = RecognizeJob(ink={"strokes": sample_ink()[0]["strokes"]})
    try:
        pub.publish(job)  # connects and declares; the job queue exists
        clean_bus.channel().queue_delete(JOB_QUEUE_NAME)  # gone, as with its node
        with pytest.raises(BusUnavailable, match="no queue took the job"):
            pub.publish(RecognizeJob(ink={"strokes": sample_ink()[0]["strokes"]}))
        pub.close()
        pub.publish(job)  # a reconnect declares the queue again
    finally:
        pub.close()
        conn = connect(settings.broker, rabbit_url)
        conn.channel().queue_purge(JOB_QUEUE_NAME)
        conn.release()
