"""The edge's bookkeeping of jobs in flight: what it publishes again after a reconnect, what it answers itself.

The broker side of this (a node SIGKILLed under load) is tests/integration/test_cluster.py; here the rules
are checked one by one with the in-process transport and a publisher that records instead of publishing.
"""

from __future__ import annotations

import threading
import time

from bus.schemas import RecognizeJob
from producers.publisher import BusUnavailable
from tests.settings import TestSettings
from web.bridge import EdgeBridge


class RecordingPublisher:
    def __init__(self):
        self.published: list[str] = []
        self.down = False

    def publish(self, job: RecognizeJob) -> None:
        if self.down:
            raise BusUnavailable("down")
        self.published.append(job.job_id)

    def answered(self, drawing_id, job_id) -> None:
        pass

    def close(self) -> None:
        pass


def _bridge():
    b = EdgeBridge(TestSettings(), url="memory://", spawn=lambda f: f(), make_event=threading.Event, sleep=lambda s: 0)
    b.publisher = RecordingPublisher()
    b._consumer_ready.set()
    seen: list[dict] = []
    b.add_listener(seen.append)
    return b, seen


def _job(practice: bool = False, deadline_in: float = 30.0) -> RecognizeJob:
    meta = {"sid": "s", "mode": "practice", "source": "practice"} if practice else {"sid": "s", "source": "socket"}
    return RecognizeJob(ink={"strokes": [[[0, 0], [1, 1]]]}, deadline=time.time() + deadline_in, meta=meta)


def _prediction(job):
    return {"type": "prediction", "job_id": job.job_id, "top": [], "meta": job.meta}


def test_unanswered_jobs_are_published_again_after_a_reconnect_and_answered_ones_are_not():
    b, seen = _bridge()
    answered, lost, check = _job(), _job(), _job(practice=True)
    assert seen == []
    for j in (answered, lost, check):
        b.submit(j)
    b._on_event(_prediction(answered), None)
    b._on_event(_prediction(check), None)  # a check is done only when its feedback comes
    b.publisher.published.clear()
    b._recover()
    assert set(b.publisher.published) == {lost.job_id, check.job_id}
    assert [e["job_id"] for e in seen] == [answered.job_id, check.job_id]  # nothing answered by the edge itself
    assert b.resent >= 2


def test_feedback_and_answers_reach_the_listeners_once_each():
    b, seen = _bridge()
    check = _job(practice=True)
    b.submit(check)
    feedback = {"type": "feedback", "job_id": check.job_id, "meta": check.meta}
    for body in (_prediction(check), _prediction(check), feedback, feedback):  # re-sent: answered twice
        b._on_event(body, None)
    assert [e["type"] for e in seen] == ["prediction", "feedback"]
    b.publisher.published.clear()
    b._recover()
    assert b.publisher.published == []  # graded: nothing left in flight


def test_a_job_past_its_deadline_is_answered_with_a_code_even_after_its_prediction():
    b, seen = _bridge()
    check = _job(practice=True, deadline_in=-1)
    b.submit(check)
    b._on_event(_prediction(check), None)
    b._expire()
    errors = [e for e in seen if e["type"] == "error"]
    assert [(e["job_id"], e["code"]) for e in errors] == [(check.job_id, "timeout")]
    b._on_event({"type": "feedback", "job_id": check.job_id, "meta": check.meta}, None)
    assert [e["type"] for e in seen] == ["prediction", "error"]  # a late feedback does not contradict it


def test_a_job_that_cannot_be_published_again_is_answered_broker_unavailable():
    b, seen = _bridge()
    job = _job()
    b.submit(job)
    b.publisher.down = True
    b._recover()
    assert [(e["job_id"], e["code"]) for e in seen] == [(job.job_id, "broker_unavailable")]


def test_a_check_still_waiting_for_its_feedback_is_published_again_and_a_live_guess_is_not():
    from web.bridge import CHECK_RESEND_S

    b, _seen = _bridge()
    check, guess = _job(practice=True), _job()
    for j in (check, guess):
        b.submit(j)
    b._on_event(_prediction(check), None)  # predicted, but its feedback was dropped on the way
    long_ago = time.monotonic() - CHECK_RESEND_S - 1
    b._inflight = {j.job_id: (j, long_ago) for j in (check, guess)}
    b.publisher.published.clear()
    b._expire()
    assert b.publisher.published == [check.job_id]
