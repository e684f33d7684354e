"""``bus.connection.corked``: a batch's answers and acks leave in one socket write, and all of them arrive."""

from __future__ import annotations

import time

from kombu import Consumer, Exchange, Producer, Queue

from bus.connection import connect, corked


def test_frames_written_inside_leave_in_one_write_and_all_arrive(settings, rabbit_url, clean_bus):
    conn = connect(settings.broker, rabbit_url)
    try:
        ch = conn.channel()
        queue = Queue(
            "inkbus.test.corked", Exchange("", type="direct"), routing_key="inkbus.test.corked", auto_delete=True
        )
        queue(ch).declare()
        transport = conn.connection.transport
        writes: list[int] = []
        send = transport._write

        def counting(data):
            writes.append(len(data))
            send(data)

        transport._write = counting
        producer = Producer(ch, serializer="json")
        with corked(conn):
            for i in range(20):
                producer.publish({"n": i}, routing_key=queue.routing_key)
            assert writes == []  # held back until the block ends
        assert len(writes) == 1 and transport._write is counting  # one write; the transport's writer restored
        got: list[int] = []
        with Consumer(ch, [queue], callbacks=[lambda body, m: (got.append(body["n"]), m.ack())], accept=["json"]):
            deadline = time.monotonic() + 10
            while len(got) < 20 and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except TimeoutError:
                    pass
        assert got == list(range(20))
    finally:
        conn.release()


def test_a_method_that_waits_for_its_reply_sends_what_is_held_first(settings, rabbit_url, clean_bus):
    conn = connect(settings.broker, rabbit_url)
    try:
        ch = conn.channel()
        with corked(conn):
            Producer(ch, serializer="json").publish({"n": 1}, routing_key="inkbus.test.nowhere")
            # a declaration waits for declare-ok: held frames would make it wait forever
            ok = ch.queue_declare("inkbus.test.corked-2", auto_delete=True)
        assert ok.queue == "inkbus.test.corked-2" and "drain_events" not in vars(conn.connection)
    finally:
        conn.release()


def test_an_in_process_connection_is_left_as_it_is(settings):
    conn = connect(settings.broker, "memory://")
    try:
        with corked(conn):
            Producer(conn.channel(), serializer="json").publish({"n": 1}, routing_key="nowhere")
    finally:
        conn.release()
