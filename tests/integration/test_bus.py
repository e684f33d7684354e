"""Jobs and events over the real RabbitMQ: batching, dead-lettering, TTL, coalescing, idempotency."""

from __future__ import annotations

import json
import time

import pytest
from amqp.exceptions import ChannelError
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from kombu import Exchange, Producer

from bus.schemas import RecognizeJob, Supersede
from bus.topology import CONTROL_EXCHANGE, DEAD_LETTER_QUEUE_NAME, JOB_QUEUE_NAME, JOBS_EXCHANGE, RK_RECOGNIZE
from producers.publisher import JobPublisher
from tests.helpers import sample_ink, wait_until


def _job(row, reply_to, **kw):
    return RecognizeJob(ink={"strokes": row["strokes"]}, reply_to=reply_to, top_k=3, meta={"label": row["label"]}, **kw)


def _queue_depth(conn, name):
    ok = conn.channel().queue_declare(queue=name, passive=True)
    return ok.message_count


def test_queued_jobs_are_answered_in_batches(settings, rabbit_url, collector, start_worker):
    rows = sample_ink()[:120]
    pub = JobPublisher(settings, rabbit_url)
    jobs = [_job(r, collector.edge_id) for r in rows]
    for j in jobs:
        pub.publish(j)
    worker = start_worker(rabbit_url)
    wait_until(lambda: len(collector.delivered) == len(jobs), 60, what="all answers")
    assert all(collector.delivered[j.job_id] == 1 for j in jobs)
    sizes = [collector.events[j.job_id]["timings"]["batch_size"] for j in jobs]
    assert max(sizes) > 1 and worker.stats["batches"] < len(jobs)  # several jobs per forward pass
    hits = sum(collector.events[j.job_id]["top"][0]["label"].lower() == j.meta["label"].lower() for j in jobs)
    assert hits / len(jobs) >= 0.75
    pub.close()


def test_poison_messages_are_dead_lettered_and_the_worker_keeps_serving(
    settings, rabbit_url, clean_bus, collector, start_worker
):
    worker = start_worker(rabbit_url)
    ch = clean_bus.channel()
    raw = Producer(ch, exchange=JOBS_EXCHANGE)
    good = _job(sample_ink()[0], collector.edge_id)
    raw.publish(b"{not json", routing_key=RK_RECOGNIZE, content_type="application/json", content_encoding="utf-8")
    raw.publish(
        b"\x80\x04K\x01.",
        routing_key=RK_RECOGNIZE,
        content_type="application/x-python-serialize",
        content_encoding="binary",
    )
    raw.publish(good.model_dump(mode="json") | {"schema_version": 99}, routing_key=RK_RECOGNIZE, serializer="json")
    bad_ink = _job({"strokes": [[[0, "x"]]], "label": "?"}, collector.edge_id)
    raw.publish(bad_ink.model_dump(mode="json"), routing_key=RK_RECOGNIZE, serializer="json")
    raw.publish(good.model_dump(mode="json"), routing_key=RK_RECOGNIZE, serializer="json")
    wait_until(lambda: good.job_id in collector.events, 20, what="the good job's answer")
    wait_until(lambda: _queue_depth(clean_bus, DEAD_LETTER_QUEUE_NAME) == 4, 10, what="4 dead letters")
    assert collector.events[bad_ink.job_id]["type"] == "error"
    assert collector.events[bad_ink.job_id]["code"] == "invalid_ink"
    assert worker.stats["poison"] == 3 and worker.stats["invalid"] == 1
    dead = [ch.basic_get(DEAD_LETTER_QUEUE_NAME, no_ack=True) for _ in range(4)]
    assert all(m.headers["x-death"][0]["reason"] == "rejected" for m in dead)


def test_stale_jobs_are_dropped_not_computed(settings, rabbit_url, clean_bus, collector, start_worker):
    pub = JobPublisher(settings.model_copy(update={"job_ttl_ms": 50}), rabbit_url)
    rows = sample_ink()[:10]
    for r in rows[:5]:
        pub.publish(_job(r, collector.edge_id))  # expire in the queue (per-message TTL)
    normal = JobPublisher(settings, rabbit_url)
    # The publisher honours a job's deadline (no broker wait outlives it), so these are published just before it
    # and reach the worker after it: nobody waits for them any more.
    deadline = time.time() + 2.0
    for r in rows[5:]:
        normal.publish(_job(r, collector.edge_id, deadline=deadline))
    wait_until(lambda: _queue_depth(clean_bus, DEAD_LETTER_QUEUE_NAME) == 5, 10, what="queued jobs expiring")
    wait_until(lambda: time.time() > deadline, 5, interval=0.05, what="the jobs' deadline passing")
    worker = start_worker(rabbit_url)
    fresh = _job(rows[0], collector.edge_id)
    normal.publish(fresh)
    wait_until(lambda: fresh.job_id in collector.events, 20, what="the fresh job's answer")
    assert set(collector.delivered) == {fresh.job_id}
    assert worker.stats["answered"] == 1 and worker.stats["expired"] == 5
    assert _queue_depth(clean_bus, DEAD_LETTER_QUEUE_NAME) == 5  # a job past its deadline is dropped, not dead
    pub.close()
    normal.close()


def _answered_after(pub, collector, sentinel_row) -> None:
    """Publish a job of another drawing and wait for its answer: the queue is FIFO and one worker serves
    it, so every job published before has been triaged by then (no sleeping on a guess)."""
    sentinel = _job(sentinel_row, collector.edge_id, drawing_id=f"sentinel-{time.monotonic_ns()}")
    pub.publish(sentinel)
    wait_until(lambda: sentinel.job_id in collector.events, 20, what="the sentinel job's answer")


def test_a_newer_job_supersedes_older_unstarted_ones(settings, rabbit_url, clean_bus, collector, start_worker):
    pub = JobPublisher(settings, rabbit_url)
    row = sample_ink()[0]
    jobs = [_job(row, collector.edge_id, drawing_id="drawing-1", seq=s) for s in range(5)]
    for j in jobs:  # queued before any worker runs: the worker sees them together
        pub.publish(j)
    worker = start_worker(rabbit_url)
    wait_until(lambda: jobs[-1].job_id in collector.events, 20, what="the newest job's answer")
    _answered_after(pub, collector, row)
    assert not {j.job_id for j in jobs[:-1]} & set(collector.raw)
    assert worker.stats["superseded"] == 4


def test_a_supersede_notice_makes_a_job_delivered_later_stale(settings, rabbit_url, clean_bus, collector, start_worker):
    """The control path alone: the notice arrives first, and the stale job comes in a batch of its own."""
    pub = JobPublisher(settings, rabbit_url)
    row = sample_ink()[0]
    worker = start_worker(rabbit_url)
    Producer(clean_bus.channel(), exchange=CONTROL_EXCHANGE, serializer="json").publish(
        Supersede(drawing_id="drawing-2", seq=10).model_dump(mode="json"), routing_key=""
    )
    wait_until(lambda: worker._latest.get("drawing-2") == 10, 10, what="the worker to hear the notice")
    stale = _job(row, collector.edge_id, drawing_id="drawing-2", seq=7)
    pub.publish(stale)
    _answered_after(pub, collector, row)
    assert stale.job_id not in collector.raw and worker.stats["superseded"] == 1
    newer = _job(row, collector.edge_id, drawing_id="drawing-2", seq=11)
    pub.publish(newer)
    wait_until(lambda: newer.job_id in collector.events, 20, what="the newer job's answer")
    pub.close()


def test_the_publisher_sends_supersede_notices_for_outstanding_drawings(settings, rabbit_url, clean_bus):
    ch = clean_bus.channel()
    q = ch.queue_declare(queue="", exclusive=True).queue
    ch.queue_bind(q, CONTROL_EXCHANGE.name)
    pub = JobPublisher(settings, rabbit_url)
    row = sample_ink()[0]
    a = _job(row, "edge-x", drawing_id="d9", seq=1)
    pub.publish(a)
    pub.publish(_job(row, "edge-x", drawing_id="d9", seq=2))  # a is unanswered: notice
    pub.answered("d9", "nobody")  # an answer to another job changes nothing
    pub.publish(_job(row, "edge-x", drawing_id="d9", seq=3))
    notes = [json.loads(m.body) for m in iter(lambda: ch.basic_get(q, no_ack=True), None)]
    assert [n["seq"] for n in notes] == [2, 3]
    pub.close()


def test_live_jobs_stay_in_memory_unless_persistence_is_asked_for(settings, rabbit_url, clean_bus):
    # Transient by default: a persistent job's confirm (and, when the disk is slow, its delivery)
    # waits for the broker's fsync; docs/PROTOCOL.md "Delivery rules" says why a live job need not.
    ch = clean_bus.channel()
    modes = {}
    for persistent in (False, True):
        pub = JobPublisher(settings.model_copy(update={"job_persistent": persistent}), rabbit_url)
        pub.publish(_job(sample_ink()[0], "edge-x"))
        pub.close()
        msg = ch.basic_get(JOB_QUEUE_NAME, no_ack=True)
        modes[persistent] = msg.properties["delivery_mode"]
        assert float(msg.properties["expiration"]) == settings.job_ttl_ms  # the TTL holds either way
    assert modes == {False: 1, True: 2}


def test_a_redelivered_job_is_answered_once(settings, rabbit_url, clean_bus, collector, start_worker):
    """Counted at the worker: it computes the job once and answers redeliveries from its cache."""
    worker = start_worker(rabbit_url)
    job = _job(sample_ink()[3], collector.edge_id)
    raw = Producer(clean_bus.channel(), exchange=JOBS_EXCHANGE, serializer="json")
    raw.publish(job.model_dump(mode="json"), routing_key=RK_RECOGNIZE)
    wait_until(lambda: worker.stats["answered"] == 1, 20, what="the first answer")
    for _ in range(2):  # the same job id again, as a redelivery after a lost channel brings it
        raw.publish(job.model_dump(mode="json"), routing_key=RK_RECOGNIZE)
    wait_until(lambda: worker.stats["duplicates"] == 2, 20, what="two redeliveries answered from the cache")
    wait_until(lambda: collector.raw[job.job_id] == 3, 20, what="three raw answers")
    assert worker.stats["answered"] == 1 and worker.stats["batches"] == 1  # computed once
    assert collector.delivered[job.job_id] == 1
    assert _queue_depth(clean_bus, JOB_QUEUE_NAME) == 0


TOPOLOGY_EXCHANGES = ("inkbus.jobs", "inkbus.events", "inkbus.dlx", "inkbus.control")


def _delete_topology(conn) -> None:
    ch = conn.channel()
    for q in (JOB_QUEUE_NAME, DEAD_LETTER_QUEUE_NAME):
        ch.queue_delete(q)
    for name in TOPOLOGY_EXCHANGES:
        ch.exchange_delete(name)
    with pytest.raises(ChannelError):  # the broker really lacks it now
        Exchange("inkbus.jobs", passive=True)(conn.channel()).declare()


def _assert_topology(conn) -> None:
    ch = conn.channel()
    for name in TOPOLOGY_EXCHANGES:
        Exchange(name, passive=True)(ch).declare()
    ch.queue_declare(queue=DEAD_LETTER_QUEUE_NAME, passive=True)


def test_unknown_exchange_declarations_are_not_needed_by_clients(settings, rabbit_url, clean_bus, start_worker):
    # Producers and workers declare the topology themselves, so a fresh broker works without a setup step.
    _delete_topology(clean_bus)
    pub = JobPublisher(settings, rabbit_url)
    pub.publish(_job(sample_ink()[0], "edge-x"))
    pub.close()
    _assert_topology(clean_bus)
    assert _queue_depth(clean_bus, JOB_QUEUE_NAME) == 1
    _delete_topology(clean_bus)
    start_worker(rabbit_url)
    _assert_topology(clean_bus)


json_payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=30,
)
almost_jobs = st.fixed_dictionaries(
    {"schema_version": st.sampled_from([1, 2, "1"]), "ink": json_payloads, "top_k": st.integers(-3, 70)},
    optional={"job_id": st.text(max_size=20), "seq": st.integers(-2, 3), "reply_to": st.text(max_size=5)},
)


def test_random_payloads_never_kill_the_worker(settings, rabbit_url, clean_bus, collector, start_worker):
    worker = start_worker(rabbit_url)
    raw = Producer(clean_bus.channel(), exchange=JOBS_EXCHANGE, serializer="json")
    good_row = sample_ink()[1]

    @hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(json_payloads, almost_jobs))
    def check(payload):
        raw.publish(payload, routing_key=RK_RECOGNIZE)
        good = _job(good_row, collector.edge_id)
        raw.publish(good.model_dump(mode="json"), routing_key=RK_RECOGNIZE)
        wait_until(lambda: good.job_id in collector.events, 20, what="the good job after a random payload")

    check()
    assert worker.stats["answered"] >= 40


def test_a_publish_does_not_wait_behind_a_busy_confirm_channel(settings, rabbit_url, clean_bus):
    """The publisher's pool: with one channel held (a publish awaiting its confirm), another still goes out."""
    import threading

    pub = JobPublisher(settings.model_copy(update={"publisher_channels": 2}), rabbit_url)
    busy = pub._slots.get()  # stands in for a publish stuck waiting for its confirm
    try:
        done = threading.Event()
        job = _job(sample_ink()[0], "none")
        threading.Thread(target=lambda: (pub.publish(job), done.set()), daemon=True).start()
        assert done.wait(10), "the publish queued behind the busy channel"
        assert _queue_depth(clean_bus, JOB_QUEUE_NAME) == 1
        assert busy.conn is None and sum(s.conn is not None for s in pub._all) == 1
    finally:
        pub._slots.put(busy)
        pub.close()
    single = JobPublisher(settings.model_copy(update={"publisher_channels": 1}), rabbit_url)
    held = single._slots.get()
    blocked = threading.Event()
    threading.Thread(target=lambda: (single.publish(_job(sample_ink()[0], "none")), blocked.set()), daemon=True).start()
    assert not blocked.wait(0.5)  # with one channel the same publish has to wait: the test can tell the two apart
    single._slots.put(held)
    assert blocked.wait(10)
    single.close()
