"""Heartbeats on connections that only receive (an edge's replies) under steady traffic."""

from __future__ import annotations

import logging
import threading
import time

from kombu import Producer

from bus.connection import connect
from bus.topology import EVENTS_EXCHANGE, event_routing_key
from tests.helpers import wait_until
from web.bridge import EdgeBridge


def test_an_edge_busy_with_replies_keeps_its_connection(settings, rabbit_url, clean_bus, caplog):
    # An edge never acks (no_ack) and sends nothing while replies keep coming: unless it heartbeats
    # when busy too, RabbitMQ drops it after two silent intervals, and the exclusive reply queue goes
    # with it, answers included. With a 1 s heartbeat, 6 s of steady replies is past that point.
    quick = settings.model_copy(update={"broker_heartbeat_s": 1})
    got: list[str] = []
    bridge = EdgeBridge(
        quick,
        url=rabbit_url,
        spawn=lambda f: threading.Thread(target=f, daemon=True).start(),
        make_event=threading.Event,
    )
    bridge.add_listener(lambda body: got.append(body["job_id"]))
    bridge.start()
    assert bridge._consumer_ready.wait(10)
    conn = connect(settings.broker, rabbit_url)
    producer = Producer(conn.channel(), exchange=EVENTS_EXCHANGE, serializer="json")
    sent = []
    try:
        with caplog.at_level(logging.WARNING, logger="inkbus.edge"):
            for i in range(60):
                sent.append(f"job-{i}")
                body = {"type": "prediction", "job_id": sent[-1]}
                producer.publish(body, routing_key=event_routing_key("prediction", bridge.edge_id))
                time.sleep(0.1)
            wait_until(lambda: len(got) >= len(sent), 10, what="every reply")
        assert got == sent
        assert "lost the broker" not in caplog.text
    finally:
        bridge.stop()
        conn.release()
