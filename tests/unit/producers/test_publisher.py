"""The job publisher's coalescing and job properties, on the in-process ``memory://`` transport (no broker)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kombu import Connection, Producer, Queue

from bus.schemas import RecognizeJob
from bus.topology import CONTROL_EXCHANGE, JOB_QUEUE_NAME, JOBS_EXCHANGE, RK_RECOGNIZE
from producers import publisher
from producers.publisher import BusUnavailable, JobPublisher
from tests.helpers import free_port


class Bus:
    """What a worker would receive: supersede notices (its control queue) and jobs."""

    def __init__(self):
        self.conn = Connection("memory://")
        ch = self.conn.channel()
        self.notices = Queue(f"control-{uuid.uuid4().hex[:8]}", CONTROL_EXCHANGE, auto_delete=True)(ch)
        self.notices.declare()
        self.jobs = Queue(JOB_QUEUE_NAME, JOBS_EXCHANGE, routing_key=RK_RECOGNIZE)(ch)
        self.jobs.declare()
        self.jobs.purge()

    def seqs_noticed(self) -> list[tuple[str, int]]:
        out = []
        while (m := self.notices.get(no_ack=True)) is not None:
            note = json.loads(m.body)
            out.append((note["drawing_id"], note["seq"]))
        return out


@pytest.fixture
def bus():
    b = Bus()
    yield b
    b.conn.release()


@pytest.fixture
def pub(settings):
    p = JobPublisher(settings, "memory://")
    yield p
    p.close()


def job(drawing_id: str | None = "d1", seq: int = 0) -> RecognizeJob:
    return RecognizeJob(ink={"strokes": [[[0, 0], [1, 1]]]}, drawing_id=drawing_id, seq=seq)


def test_a_newer_job_sends_a_notice_only_while_an_older_one_is_unanswered(pub, bus):
    first = job(seq=1)
    pub.publish(first)
    assert bus.seqs_noticed() == []  # nothing older to skip
    pub.publish(job(seq=2))
    assert bus.seqs_noticed() == [("d1", 2)]
    pub.answered("d1", first.job_id)  # an answer to a job that is no longer the drawing's latest changes nothing
    third = job(seq=3)
    pub.publish(third)
    assert bus.seqs_noticed() == [("d1", 3)]
    pub.answered("d1", third.job_id)  # the latest is answered: nothing of d1 is outstanding
    pub.publish(job(seq=4))
    assert bus.seqs_noticed() == []
    assert pub.superseded == 2


def test_notices_are_per_drawing_and_only_for_a_higher_seq(pub, bus):
    pub.publish(job("d1", 5))
    pub.publish(job("d2", 1))  # another drawing
    pub.publish(job("d1", 5))  # the same seq again (a re-send) is not newer
    pub.publish(job(None, 9))
    pub.publish(job(None, 10))  # no drawing, nothing to coalesce
    assert bus.seqs_noticed() == [] and pub.superseded == 0
    pub.publish(job("d2", 2))
    assert bus.seqs_noticed() == [("d2", 2)]


def test_a_forgotten_drawing_has_nothing_outstanding(pub, bus):
    pub.publish(job(seq=1))
    pub.forget("d1")  # its page closed: the next job of that id starts afresh
    pub.publish(job(seq=2))
    assert bus.seqs_noticed() == []
    pub.forget("never-seen")  # forgetting an unknown drawing is harmless


def test_jobs_carry_their_id_ttl_and_delivery_mode(settings, pub, bus):
    j = job(seq=1)
    pub.publish(j)
    m = bus.jobs.get(no_ack=True)
    assert json.loads(m.body) == j.model_dump(mode="json")
    assert m.properties["message_id"] == j.job_id
    assert float(m.properties["expiration"]) == settings.job_ttl_ms
    assert m.properties["delivery_mode"] == (2 if settings.job_persistent else 1)
    assert m.delivery_info["routing_key"] == RK_RECOGNIZE


def test_answers_for_unknown_drawings_change_nothing(pub, bus):
    pub.answered("never-published", "some-job")  # an answer the coalescer never saw a job for
    pub.answered("never-published", "XXXX")
    pub.answered("never-published", "")
    pub.answered(None, "some-job")  # a job without a drawing
    pub.publish(job(seq=1))
    pub.publish(job(seq=2))
    assert bus.seqs_noticed() == [("d1", 2)]


def test_notices_are_transient_and_jobs_carry_a_timestamp(pub, bus):
    before = int(time.time())
    pub.publish(job(seq=1))
    pub.publish(job(seq=2))
    note = bus.notices.get(no_ack=True)
    assert note.properties["delivery_mode"] == 1  # a notice is worthless after a restart
    stamps = [bus.jobs.get(no_ack=True).properties["timestamp"] for _ in range(2)]
    assert all(isinstance(t, int) and before <= t <= time.time() + 1 for t in stamps)


def _broken(*args, **kw):
    raise ConnectionResetError("connection reset by peer")


def test_a_broken_pooled_connection_is_replaced_once_then_the_broker_is_unavailable(pub, bus, monkeypatch, caplog):
    caplog.set_level("WARNING", logger="inkbus.producer")
    pub.publish(job(seq=1))
    assert caplog.messages == []  # a fresh pool opens its channel at once, without a failed try
    slot = pub._all[0]
    dead = slot.producer
    monkeypatch.setattr(dead.channel, "basic_publish", _broken)
    second = job(seq=2)
    pub.publish(second)  # the first try fails on the dead connection; the second, on a new one, succeeds
    assert slot.producer is not dead
    assert caplog.messages == ["broker call failed (connection reset by peer); reconnecting once"]
    assert [json.loads(m.body)["job_id"] for m in iter(lambda: bus.jobs.get(no_ack=True), None)][-1] == second.job_id

    class Refused(Producer):
        def publish(self, *args, **kw):
            _broken()

    monkeypatch.setattr(publisher, "Producer", Refused)
    monkeypatch.setattr(slot.producer.channel, "basic_publish", _broken)
    with pytest.raises(BusUnavailable, match="did not answer: connection reset by peer"):
        pub.publish(job(seq=3))


def test_an_unreachable_broker_is_reported_at_once(settings):
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}//"  # nothing listens there: refused at once
    pub = JobPublisher(settings.model_copy(update={"publisher_channels": 1}), closed)
    assert len(pub._all) == 1  # the pool has the channels the setting asks for
    with pytest.raises(BusUnavailable, match="message broker unreachable"):
        pub.publish(job(seq=1))
    pub.close()
