"""Every consumer's failure path settles the message instead of leaving it for endless redelivery."""

from __future__ import annotations

import pytest
from influxdb_client.rest import ApiException
from kombu import Connection

from bus.consumer import dead_letter_on_failure, is_transport_error
from chatbots.feed import BusFeed
from observability.sink import TelemetrySink
from tests.helpers import Ledger


@pytest.fixture
def conn():
    c = Connection("memory://")
    yield c
    c.release()


def test_a_handler_failure_rejects_what_it_left_unsettled_without_requeue(conn):
    ledger = Ledger()
    done, left = ledger.deliver({"n": 1}), ledger.deliver({"n": 2})
    with dead_letter_on_failure(conn, [done[1], left[1]], "a test handler"):
        done[1].ack()
        raise ValueError("Maximum serialization depth exceeded")
    assert (ledger.outcome(done), ledger.outcome(left)) == ("acked", "dead-lettered")


@pytest.mark.parametrize("exc", [ConnectionResetError("reset"), OSError("socket closed")])
def test_a_transport_failure_propagates_and_leaves_messages_for_redelivery(conn, exc):
    ledger = Ledger()
    msg = ledger.deliver({"n": 1})
    assert is_transport_error(conn, exc)
    with pytest.raises(type(exc)), dead_letter_on_failure(conn, [msg[1]], "a test handler"):
        raise exc
    assert ledger.outcome(msg) is None
    assert not is_transport_error(conn, ValueError("a bad message"))


def test_the_bots_feed_acks_after_a_chat_service_fails(settings, conn):
    posted = []

    def down(body):
        raise ConnectionError("chat service down")

    feed = BusFeed(settings, [down, posted.append])
    feed._conn = conn
    ledger = Ledger()
    event = ledger.deliver({"type": "alert", "title": "t"})
    feed._on_event(*event)
    assert posted == [event[0]] and ledger.outcome(event) == "acked"


class Writer:
    def __init__(self, error: Exception | None):
        self.error, self.points = error, []

    def write(self, points):
        if self.error:
            raise self.error
        self.points.extend(points)


def _prediction(i: int) -> dict:
    return {
        "type": "prediction",
        "top": [{"label": "a", "p": 0.9}],
        "timings": {"queue_ms": 1, "render_ms": 1, "inference_ms": 1, "batch_size": 1},
        "created_at": 1.0 + i,
        "produced_at": 2.0 + i,
    }


@pytest.mark.parametrize("status,kept", [(400, False), (422, False), (503, True), (None, True)])
def test_the_sink_drops_points_the_database_refuses_and_keeps_the_rest_for_a_retry(settings, conn, status, kept):
    error = ApiException(status=status) if status else ConnectionError("database down")
    sink = TelemetrySink(settings, writer=Writer(error))
    sink._conn = conn
    ledger = Ledger()
    events = [ledger.deliver(_prediction(i)) for i in range(3)]
    events.append(ledger.deliver(["junk"]))  # no point: stored as None, settled with its batch
    for body, message in events:
        sink._on_event(body, message)
    sink._flush()
    if kept:  # down or busy: everything waits, unacked, for the next try
        assert len(sink._buf) == 4 and [ledger.outcome(e) for e in events] == [None] * 4
    else:  # the same write would be refused again: retrying would hold the queue forever
        assert sink._buf == [] and [ledger.outcome(e) for e in events] == ["dead-lettered"] * 4
    sink.writer = Writer(None)
    sink._retry_at = 0.0
    sink._flush()
    assert len(sink.writer.points) == (3 if kept else 0)
