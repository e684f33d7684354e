"""How the shared queues are declared, on stand-in AMQP channels that record what the broker would be asked:
a declaration on a channel of its own, an older declaration kept (406) without touching the caller's channel,
and the declarations of the queues a test broker does not enforce (names, lifetimes, the Celery baseline)."""

from __future__ import annotations

import logging

import pytest
from amqp.exceptions import PreconditionFailed

from bus import topology as T
from tests.settings import TestSettings


class Channel:
    """Records ``queue_declare`` calls; refuses a non-passive one with 406 when ``held`` (an older declaration)."""

    def __init__(self, connection=None, channel_id=1, held=False, close_fails=False):
        self.connection, self.channel_id, self.held, self.close_fails = connection, channel_id, held, close_fails
        self.declared: list[dict] = []
        self.closed = False

    def prepare_queue_arguments(self, arguments, **_kw):
        return dict(arguments)

    def queue_declare(self, **kw):
        self.declared.append(kw)
        if self.held and not kw["passive"]:
            raise PreconditionFailed("inequivalent arg 'x-queue-type' for queue 'inkbus.recognize'")
        return (kw["queue"], 3, 1)

    def close(self):
        self.closed = True
        if self.close_fails:
            raise ConnectionResetError("the connection broke meanwhile")


class Connection:
    def __init__(self, **probe):
        self.probes: list[Channel] = []
        self.probe_kw = probe

    def channel(self):
        self.probes.append(Channel(connection=self, **self.probe_kw))
        return self.probes[-1]


def caller(**probe) -> Channel:
    return Channel(connection=Connection(**probe), channel_id=7)


def test_a_shared_queue_is_declared_on_a_channel_of_its_own(caplog):
    chan = caller()
    with caplog.at_level(logging.WARNING, "inkbus.bus"):
        assert T.job_queue("quorum").queue_declare(channel=chan) == ("inkbus.recognize", 3, 1)
    [probe] = chan.connection.probes
    assert chan.declared == [] and probe.closed and caplog.records == []
    [kw] = probe.declared
    assert kw["queue"] == T.JOB_QUEUE_NAME and kw["passive"] is False and kw["durable"] is True
    assert kw["arguments"]["x-queue-type"] == "quorum" and kw["nowait"] is False


def test_an_older_declaration_is_kept_looked_up_passively_and_said(caplog):
    chan = caller(held=True)
    with caplog.at_level(logging.WARNING):
        assert T.job_queue("quorum").queue_declare(channel=chan) == ("inkbus.recognize", 3, 1)
    [probe] = chan.connection.probes
    assert [kw["passive"] for kw in probe.declared] == [False, True] and chan.declared == [] and probe.closed
    [record] = caplog.records
    assert record.getMessage() == (
        "queue inkbus.recognize kept as the broker holds it (inequivalent arg 'x-queue-type' for queue "
        "'inkbus.recognize'); see `inkbus migrate-queues`"
    )


def test_a_probe_that_cannot_be_closed_is_left_to_the_callers_next_call():
    chan = caller(close_fails=True)
    assert T.dead_letter_queue(TestSettings().queues).queue_declare(channel=chan)[0] == T.DEAD_LETTER_QUEUE_NAME
    assert chan.connection.probes[0].closed


def test_a_passive_declaration_goes_to_the_callers_channel_as_asked():
    chan = caller()
    T.job_queue().queue_declare(passive=True, nowait=True, channel=chan)
    assert chan.connection.probes == []
    [kw] = chan.declared
    assert kw["passive"] is True and kw["nowait"] is True and kw["queue"] == T.JOB_QUEUE_NAME


@pytest.mark.parametrize("nowait", [True, False])
def test_a_channel_without_a_broker_connection_declares_directly(nowait):
    chan = Channel(connection=object(), channel_id=None)
    del chan.channel_id  # the memory transport's channels have none
    T.job_queue().queue_declare(nowait=nowait, channel=chan)
    T.job_queue().queue_declare(channel=chan)
    first, default = chan.declared
    assert first["passive"] is False and first["nowait"] is nowait
    assert default["passive"] is False and default["nowait"] is False


def test_a_channel_with_no_connection_at_all_declares_directly():
    chan = Channel(channel_id=None)
    del chan.connection, chan.channel_id
    T.job_queue().queue_declare(channel=chan)
    assert len(chan.declared) == 1


def test_a_bound_queue_declares_on_its_own_channel():
    chan = caller()
    q = T.job_queue()(chan)
    q.queue_declare()
    assert len(chan.connection.probes) == 1 and chan.connection.probes[0].declared[0]["durable"] is False


def test_the_job_queue_is_classic_unless_asked_and_the_topology_declares_the_configured_type(monkeypatch):
    assert T.job_queue().queue_arguments["x-queue-type"] == "classic"
    asked = []
    real = T.job_queue
    monkeypatch.setattr(T, "job_queue", lambda queue_type="classic": asked.append(queue_type) or real(queue_type))
    from kombu import Connection as KombuConnection

    with KombuConnection("memory://") as conn:
        T.declare_topology(conn.channel(), TestSettings().model_copy(update={"job_queue_type": "quorum"}).queues)
    assert asked == ["quorum"]


def test_the_dead_letter_and_control_queues_are_declared_as_documented():
    dlq = T.dead_letter_queue(TestSettings().queues)
    assert dlq.name == T.DEAD_LETTER_QUEUE_NAME == "inkbus.recognize.dlq" and dlq.durable
    control = T.control_queue("w1")
    assert control.exchange is T.CONTROL_EXCHANGE and control.exclusive and control.auto_delete
    assert control.durable is False  # notices are worth nothing after a restart


def test_the_celery_baseline_queue_is_a_durable_classic_queue_of_its_own_exchange():
    q = T.unbatched_queue()
    assert q.name == T.UNBATCHED_QUEUE_NAME == "inkbus.recognize.unbatched" and q.routing_key == q.name
    assert q.durable and not q.auto_delete and not q.exclusive and not q.queue_arguments
    assert q.exchange.name == q.name and q.exchange.type == "direct" and q.exchange.durable
