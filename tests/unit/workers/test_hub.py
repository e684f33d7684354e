"""The worker's event loop runs callbacks queued during its ready phase before sleeping (workers/hub.py).

These drive kombu's real Hub on a thread. The timer is 30 s away, so a callback that waits for the
poll to time out has not run when the test looks; the waits below are liveness bounds, not timings.
"""

from __future__ import annotations

import socket
import threading

import pytest
from kombu.asynchronous import Hub
from kombu.asynchronous.timer import Timer

from workers.hub import PromptCallbacks, wake_if_ready


@pytest.fixture
def hub_loop():
    hub = Hub(Timer())
    quiet_a, quiet_b = socket.socketpair()  # a reader that never fires: the hub polls as a worker's does
    hub.add_reader(quiet_a.fileno(), lambda *_: None)
    hub.call_later(30, lambda: None)
    stop = threading.Event()

    def run(with_fix: bool):
        if with_fix:
            hub.on_tick.add(lambda: wake_if_ready(hub))
        loop = hub.create_loop()

        def spin():
            while not stop.is_set():
                next(loop)

        t = threading.Thread(target=spin, daemon=True)
        t.start()
        return t

    yield hub, run
    stop.set()
    hub.call_soon(lambda: None)  # from this thread: wakes the poll so the loop sees ``stop``
    quiet_a.close()
    quiet_b.close()


def _chain(hub):
    """A ready callback that queues another, as a solo-pool task queues its late ack."""
    second = threading.Event()
    hub.call_soon(lambda: hub.call_soon(second.set))
    return second


def test_without_the_tick_a_callback_queued_by_a_callback_waits_for_the_timer(hub_loop):
    # The kombu behaviour the fix exists for; if kombu fixes it, this fails and workers/hub.py can go.
    hub, run = hub_loop
    second = _chain(hub)
    run(with_fix=False)
    assert not second.wait(1.5)


def test_with_the_tick_it_runs_at_once(hub_loop):
    hub, run = hub_loop
    second = _chain(hub)
    run(with_fix=True)
    assert second.wait(5)


def test_a_loop_with_nothing_ready_is_not_woken():
    hub = Hub(Timer())
    assert wake_if_ready(hub) is False
    hub._ready.add(lambda: None)
    assert wake_if_ready(hub) is False  # no waker before the loop starts: nothing polls yet
    assert hub._wake_pending is False  # and a later tick may still wake it


def test_the_celery_worker_carries_the_step():
    from workers.celery_app import app

    assert PromptCallbacks in app.steps["worker"]

    class Worker:
        hub = Hub(Timer())

    step = PromptCallbacks.__new__(PromptCallbacks)
    step.start(Worker)
    assert len(Worker.hub.on_tick) == 1
    step.stop(Worker)
    assert not Worker.hub.on_tick


def test_there_is_one_celery_app(settings):
    from workers.celery_app import app, create_celery

    other = settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1//", "worker_pool": "threads"})
    try:
        assert create_celery(other) is app and app.conf.broker_url.endswith(":1//")
        assert app.conf.worker_pool == "threads" and app.inkbus_settings is other
        import workers.tasks  # what the worker imports at start (the app's ``include``)

        assert workers.tasks.app is app and "inkbus.recognize_one" in app.tasks
    finally:
        create_celery(settings)
