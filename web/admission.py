"""The one check before a recognition job is published, for every door (HTTP, drawing, practice).

Valid ink, not a single dot, a reachable broker with at least one worker: in that order, with one
wording per code. Then the job is published (and, over HTTP, its answer awaited) within its deadline.
"""

from __future__ import annotations

from bus.schemas import RecognizeJob
from ml.ink import MIN_EXTENT, InkError, checked_extent
from producers.publisher import BusUnavailable
from web.bridge import ReplyTimeout

DOT = "the drawing is a single dot: draw the whole character"
BROKER_DOWN = "the message broker is unreachable; try again shortly"
NO_WORKERS = "no recognition worker is running; try again shortly"


class Refused(Exception):
    """The job was not published, or not answered: ``code`` and a message for a person."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def admit(bridge, ink: dict) -> None:
    """Check ``ink`` and the bus before publishing, or raise ``Refused``."""
    try:
        if checked_extent(ink) <= MIN_EXTENT:  # ml.ink.is_degenerate's rule
            raise InkError("degenerate_ink", DOT)
    except InkError as exc:
        raise Refused(exc.code, exc.message) from None
    stats = bridge.job_queue_stats(block=False)
    if stats is None:
        raise Refused("broker_unavailable", BROKER_DOWN)
    if stats[1] == 0:
        raise Refused("no_workers", NO_WORKERS)


def publish(bridge, job: RecognizeJob, wait_s: float | None = None) -> dict | None:
    """Publish ``job``; with ``wait_s``, wait that long for its answer and return it."""
    try:
        if wait_s is None:
            bridge.submit(job)
            return None
        return bridge.request(job, wait_s)
    except BusUnavailable as exc:
        raise Refused("broker_unavailable", str(exc)) from None
    except ReplyTimeout as exc:
        raise Refused("timeout", str(exc)) from None
