"""Run callbacks queued inside the worker's event loop before it sleeps, not after.

kombu's hub (the loop of Celery's solo and prefork pools) pops its ready callbacks once per
iteration, then polls with a timeout that runs to the next timer (up to 2 s). Anything queued
*while* those callbacks run waits out that poll. With the solo pool a task runs inside such a
callback (the transport's reader), so the late ``ack`` it queues, and the reader's own
re-schedule, sit until the poll times out; with ``prefetch = 1`` the broker sends nothing new
until that ack, and the worker idles. strace of the benchmark's unbatched worker showed exactly
this: the result published, then ``epoll_wait`` for 0.5-1.9 s, then the ack; 3 to 17 such stalls
per 300 tasks made the one-task-per-job baseline swing between 15 and 200 tasks/s from run to
run. (The same race is kombu PR #1587, unmerged.)

The fix is a tick callback: just before the hub polls, if callbacks are ready, wake the hub's
own waker so the poll returns at once and the next iteration runs them. Timers still fire every
iteration, and a loop with nothing ready polls exactly as before.
"""

from __future__ import annotations

from celery import bootsteps


def wake_if_ready(hub) -> bool:
    """Called on every tick: make the coming poll return at once when callbacks are waiting."""
    waker = hub._waker  # created when the loop starts: before that nothing polls
    if not hub._ready or waker is None:
        return False
    with hub._ready_lock:
        if hub._wake_pending:  # a wake-up is already on its way; one is enough for any number
            return False
        hub._wake_pending = True
    waker.wake()
    return True


class PromptCallbacks(bootsteps.StartStopStep):
    """Adds ``wake_if_ready`` to the worker's hub (present for the solo and prefork pools)."""

    requires = {"celery.worker.components:Hub"}

    def start(self, worker):
        hub = getattr(worker, "hub", None)
        if hub is not None:
            hub.on_tick.add(self._tick)
            self._hub = hub

    def _tick(self) -> None:
        wake_if_ready(self._hub)

    def stop(self, worker):
        hub = getattr(self, "_hub", None)
        if hub is not None:
            hub.on_tick.discard(self._tick)
