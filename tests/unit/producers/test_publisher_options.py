"""What the job publisher asks of the broker, recorded on a stand-in connection and producer: publisher confirms,
the mandatory flag, every timeout and deadline, the pooled channels' upkeep and the queue-stats probe.
(``memory://`` ignores these options, so ``test_publisher.py`` cannot see them.)"""

from __future__ import annotations

import json
import queue
import time

import pytest

from bus.schemas import JSON_CONTENT, RecognizeJob
from bus.topology import CONTROL_EXCHANGE, JOBS_EXCHANGE, RK_RECOGNIZE, job_delivery_mode
from producers import publisher
from producers.publisher import BusUnavailable, JobPublisher


class Conn:
    def __init__(self, log):
        self.log = log
        self.released = self.collected = 0
        self.fail_release = False

    def channel(self):
        return ("channel", self)

    def release(self):
        if self.fail_release:
            raise OSError("socket closed")
        self.released += 1

    def collect(self):
        self.collected += 1


class Broker:
    """Stands in for ``bus.connection`` and kombu's ``Producer`` in ``producers.publisher``: records every call."""

    def __init__(self, monkeypatch):
        self.connects, self.ensured, self.declared, self.timeouts, self.drained = [], [], [], [], []
        self.producers, self.published, self.conns = [], [], []
        self.fail_publish = 0  # the next n publishes raise
        self.fail_connect = False
        self.returns: set[str] = set()  # job ids the broker sends back unroutable
        broker = self

        class Producer:
            def __init__(self, channel, **kw):
                self.channel, self.kw = channel, kw
                broker.producers.append(self)

            def publish(self, body, **kw):
                if broker.fail_publish:
                    broker.fail_publish -= 1
                    raise ConnectionResetError("connection reset by peer")
                broker.published.append((body, kw))
                if kw.get("message_id") in broker.returns:
                    self.kw["on_return"](None, kw["exchange"], kw["routing_key"], Msg(kw["message_id"]))

        def connect(settings, url=None, *, confirm=False):
            broker.connects.append((settings, url, confirm))
            conn = Conn(broker)
            broker.conns.append(conn)
            return conn

        def ensure_connected(conn, settings):
            if broker.fail_connect:
                raise ConnectionRefusedError("refused")
            broker.ensured.append((conn, settings))

        monkeypatch.setattr(publisher, "connect", connect)
        monkeypatch.setattr(publisher, "ensure_connected", ensure_connected)
        monkeypatch.setattr(publisher, "set_io_timeout", lambda conn, s: broker.timeouts.append((conn, s)))
        monkeypatch.setattr(publisher, "declare_topology", lambda ch, queues: broker.declared.append((ch, queues)))
        monkeypatch.setattr(publisher, "Producer", Producer)
        monkeypatch.setattr(publisher, "drain", lambda conn, timeout: broker.drained.append((conn, timeout)))


class Msg:
    def __init__(self, job_id):
        self.properties = {"message_id": job_id}


@pytest.fixture
def broker(monkeypatch):
    return Broker(monkeypatch)


def publisher_for(settings, **update):
    return JobPublisher(settings.model_copy(update={"publisher_channels": 1, **update}), "amqp://node-a//")


def job(seq=0, drawing_id="d1", deadline=None) -> RecognizeJob:
    return RecognizeJob(ink={"strokes": [[[0, 0], [1, 1]]]}, drawing_id=drawing_id, seq=seq, deadline=deadline)


def test_a_channel_connects_with_publisher_confirms_declares_the_topology_and_is_reused(settings, broker):
    pub = publisher_for(settings)
    pub.publish(job(seq=1))
    pub.publish(job(seq=2, drawing_id="d2"))
    [(broker_settings, url, confirm)] = broker.connects
    assert confirm is True and url == "amqp://node-a//" and broker_settings == pub.settings.broker
    assert broker.ensured == [(broker.conns[0], pub.settings.broker)]
    assert broker.declared == [(("channel", broker.conns[0]), pub.settings.queues)]
    [producer] = broker.producers
    assert producer.channel == ("channel", broker.conns[0])
    assert producer.kw == {"serializer": "json", "on_return": pub._on_return}


def test_a_job_is_published_mandatory_with_its_id_ttl_delivery_mode_and_timestamp(settings, broker):
    pub = publisher_for(settings, job_ttl_ms=7_500)
    j = job()
    before = int(time.time())
    pub.publish(j)
    [(body, kw)] = broker.published
    assert json.loads(body) == j.model_dump(mode="json")  # JSON text, encoded once, with its content type
    stamp = kw.pop("timestamp")
    assert before <= stamp <= time.time()
    kw.pop("timeout"), kw.pop("confirm_timeout")
    assert kw == {
        "exchange": JOBS_EXCHANGE, "routing_key": RK_RECOGNIZE, "delivery_mode": job_delivery_mode(pub.settings.queues),
        "expiration": 7.5, "message_id": j.job_id, "mandatory": True, **JSON_CONTENT,
    }  # fmt: skip


def test_a_supersede_notice_goes_to_the_control_exchange_as_a_transient_message(settings, broker):
    pub = publisher_for(settings)
    pub.publish(job(seq=1))
    pub.publish(job(seq=2))
    notice, kw = broker.published[1]
    notice = json.loads(notice)
    assert (notice["drawing_id"], notice["seq"]) == ("d1", 2)
    assert kw["exchange"] == CONTROL_EXCHANGE and kw["delivery_mode"] == 1 and "mandatory" not in kw


def test_the_confirm_wait_is_the_confirm_timeout_when_the_deadline_is_further(settings, broker):
    pub = publisher_for(settings, publish_confirm_timeout_s=0.25)
    pub.publish(job(deadline=time.time() + 60))
    kw = broker.published[0][1]
    assert kw["timeout"] == kw["confirm_timeout"] == 0.25


def test_the_confirm_wait_ends_by_the_jobs_deadline(settings, broker):
    pub = publisher_for(settings, publish_confirm_timeout_s=30.0)
    pub.publish(job(deadline=time.time() + 2))
    kw = broker.published[0][1]
    assert kw["timeout"] == kw["confirm_timeout"] and 1.0 < kw["timeout"] <= 2.0


def test_a_job_without_a_deadline_waits_at_most_the_request_timeout(settings, broker):
    pub = publisher_for(settings, publish_confirm_timeout_s=30.0, request_timeout_s=3.0)
    pub.publish(job())
    kw = broker.published[0][1]
    assert 2.0 < kw["timeout"] <= 3.0
    [(conn, io_timeout)] = broker.timeouts  # the new connection's reads and writes end by the deadline too
    assert conn is broker.conns[0] and 2.0 < io_timeout <= 3.0


def test_a_job_past_its_deadline_still_gets_a_positive_wait(settings, broker):
    pub = publisher_for(settings)
    pub.publish(job(deadline=time.time() - 5))
    kw = broker.published[0][1]
    assert kw["timeout"] == kw["confirm_timeout"] == 0.001


def test_a_reused_channel_gets_the_new_jobs_deadline_as_its_io_timeout(settings, broker):
    pub = publisher_for(settings)
    pub.publish(job(deadline=time.time() + 60))
    pub.publish(job(drawing_id="d2", deadline=time.time() + 2))
    conn, io_timeout = broker.timeouts[-1]
    assert conn is broker.conns[0] and 1.0 < io_timeout <= 2.0


def test_an_unreachable_broker_is_tried_twice_then_reported_and_each_connection_dropped(settings, broker):
    broker.fail_connect = True
    pub = publisher_for(settings)
    with pytest.raises(BusUnavailable, match=r"^message broker did not answer: message broker unreachable: refused$"):
        pub.publish(job())
    assert [c.collected for c in broker.conns] == [1, 1] and broker.published == []


def test_a_failed_publish_is_retried_once_on_a_new_connection(settings, broker, caplog):
    pub = publisher_for(settings)
    pub.publish(job(seq=1))
    broker.fail_publish = 1
    with caplog.at_level("WARNING", "inkbus.producer"):
        pub.publish(job(seq=1, drawing_id="d2"))
    assert len(broker.conns) == 2 and broker.conns[0].collected == 1 and pub.replaced == 1
    assert caplog.messages == ["broker call failed (connection reset by peer); reconnecting once"]
    assert len(broker.published) == 2


def test_two_failed_publishes_make_the_broker_unavailable(settings, broker):
    pub = publisher_for(settings)
    broker.fail_publish = 2
    with pytest.raises(BusUnavailable, match=r"^message broker did not answer: connection reset by peer$"):
        pub.publish(job())
    assert len(broker.conns) == 2 and pub.replaced == 2


def test_a_publish_past_its_deadline_is_not_retried(settings, broker, monkeypatch):
    pub = publisher_for(settings)
    monkeypatch.setattr(publisher.time, "monotonic", lambda: 1000.0)  # the deadline is now, exactly
    broker.fail_publish = 1
    with pytest.raises(BusUnavailable, match="did not answer"):
        pub.publish(job(deadline=time.time() - 1))
    assert len(broker.conns) == 1


def test_a_job_no_queue_took_is_refused_once(settings, broker):
    pub = publisher_for(settings)
    lost = job()
    broker.returns.add(lost.job_id)
    with pytest.raises(
        BusUnavailable, match=r"^no queue took the job: the message broker is re-declaring it; try again shortly$"
    ):
        pub.publish(lost)
    broker.returns.clear()
    pub.publish(lost)  # sent again once the queue is back: accepted


def test_a_return_without_a_message_id_is_ignored(settings, broker):
    pub = publisher_for(settings)
    pub._on_return(None, JOBS_EXCHANGE, RK_RECOGNIZE, object())
    pub.publish(job())


def test_every_channel_busy_makes_the_broker_unavailable(settings, broker):
    pub = publisher_for(settings)
    slot = pub._take(time.monotonic() + 1)
    with pytest.raises(BusUnavailable, match=r"^every publisher channel is busy with a slow broker$"):
        pub.publish(job(deadline=time.time() - 1))
    pub._give(slot)
    pub.publish(job())


def test_a_publish_past_its_deadline_does_not_wait_for_a_busy_channel(settings, broker):
    waits = []

    class Busy:
        def get(self, timeout):
            waits.append(timeout)
            raise queue.Empty

    pub = publisher_for(settings)
    pub._slots = Busy()
    with pytest.raises(BusUnavailable, match="every publisher channel is busy"):
        pub.publish(job(deadline=time.time() - 1))
    with pytest.raises(BusUnavailable):
        pub.publish(job(drawing_id="d2", deadline=time.time() + 30))
    assert waits[0] == 0.0 and 29 < waits[1] <= 30


def test_queue_stats_are_read_over_a_pooled_channel(settings, broker, monkeypatch):
    asked = []

    def queue_stats(channel, name):
        asked.append((channel, name))
        return (4, 2)

    monkeypatch.setattr(publisher, "queue_stats", queue_stats)
    pub = publisher_for(settings, broker_connect_timeout_s=1.5)
    assert pub.queue_stats("inkbus.jobs") == (4, 2)
    assert asked == [(("channel", broker.conns[0]), "inkbus.jobs")]
    assert 2.5 < broker.timeouts[0][1] <= 3.0  # two connection timeouts by default


def test_queue_stats_wait_at_most_the_given_timeout(settings, broker, monkeypatch):
    monkeypatch.setattr(publisher, "queue_stats", lambda channel, name: (0, 1))
    pub = publisher_for(settings, broker_connect_timeout_s=5.0)
    assert pub.queue_stats("inkbus.jobs", timeout=0.5) == (0, 1)
    assert 0 < broker.timeouts[0][1] <= 0.5


def test_queue_stats_are_none_when_the_broker_is_down(settings, broker, caplog):
    broker.fail_connect = True
    pub = publisher_for(settings)
    with caplog.at_level("WARNING", "inkbus.producer"):
        assert pub.queue_stats("inkbus.jobs", timeout=0.5) is None
    assert (
        caplog.messages[-1]
        == "queue stats unavailable: message broker did not answer: message broker unreachable: refused"
    )


def test_closing_releases_each_open_connection_with_a_bounded_wait(settings, broker):
    pub = publisher_for(settings, broker_connect_timeout_s=1.5, publisher_channels=2)
    pub.publish(job())
    conn = broker.conns[0]
    pub.close()
    assert conn.released == 1 and broker.timeouts[-1] == (conn, 1.5)
    assert all(slot.conn is None and slot.producer is None for slot in pub._all)


def test_a_connection_that_fails_to_close_is_dropped(settings, broker):
    pub = publisher_for(settings)
    pub.publish(job())
    broker.conns[0].fail_release = True
    pub.close()
    assert broker.conns[0].collected == 1


def test_keep_alive_beats_only_open_idle_connections(settings, broker):
    pub = publisher_for(settings, publisher_channels=2)
    pub.keep_alive()
    assert broker.drained == []  # nothing opened yet
    pub.publish(job())
    pub.keep_alive()
    assert broker.drained == [(broker.conns[0], 0.0001)] and broker.timeouts[-1] == (broker.conns[0], None)
    slot = pub._take(time.monotonic() + 1)
    pub.keep_alive()  # busy: skipped
    assert len(broker.drained) == 1
    pub._give(slot)


def test_keep_alive_drops_a_connection_whose_broker_went_silent(settings, broker, monkeypatch, caplog):
    pub = publisher_for(settings)
    pub.publish(job())

    def silent(conn, timeout):
        raise TimeoutError("missed heartbeats")

    monkeypatch.setattr(publisher, "drain", silent)
    with caplog.at_level("INFO", "inkbus.producer"):
        pub.keep_alive()
    assert caplog.messages == ["an idle publisher connection died (missed heartbeats); it is replaced on next use"]
    assert pub.replaced == 1 and pub._all[0].conn is None and broker.conns[0].collected == 1
    pub.publish(job(drawing_id="d2"))
    assert len(broker.conns) == 2


def test_keep_alive_beats_the_open_channels_after_a_busy_or_unopened_one(settings, broker):
    pub = publisher_for(settings, publisher_channels=3)
    first = pub._take(time.monotonic() + 1)  # busy, never opened
    pub.publish(job())  # opens the second channel
    pub.keep_alive()
    assert broker.drained == [(broker.conns[0], 0.0001)] and pub._all.index(first) == 0
    pub._give(first)


def test_dropping_a_slot_that_never_connected_counts_nothing(settings, broker):
    pub = publisher_for(settings)
    pub._drop(pub._all[0])
    assert pub.replaced == 0


def test_a_failure_to_collect_a_dead_connection_is_ignored(settings, broker):
    pub = publisher_for(settings)
    pub.publish(job())

    def broken():
        raise OSError("gone")

    broker.conns[0].collect = broken
    broker.fail_publish = 1
    pub.publish(job(drawing_id="d2"))
    assert pub.replaced == 1
