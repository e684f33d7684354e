"""Jobs in, events out: the recognition step shared by the batching consumer and the Celery task.

No bus I/O here, so it is tested without a broker and reused by every way of consuming jobs.
A batch never fails for one job: when the batch's rendering or forward pass raises, the jobs are
run one at a time, and only the one that still fails is answered ``internal_error``.
"""

from __future__ import annotations

import logging
import time

from bus.schemas import ErrorEvent, Label, PracticeVerdict, PredictionEvent, RecognizeJob, ShapeGuess, Timings
from ml.ink import InkError, is_degenerate, validate_ink
from ml.practice import judge, shape_guess
from ml.serving import BaseRecognizer, BatchResult

Event = PredictionEvent | ErrorEvent

log = logging.getLogger("inkbus.worker")


def error_event(job: RecognizeJob, code: str, message: str) -> ErrorEvent:
    return ErrorEvent(job_id=job.job_id, reply_to=job.reply_to, code=code, message=message, meta=job.meta)


def internal_error(job: RecognizeJob, exc: BaseException) -> ErrorEvent:
    return error_event(job, "internal_error", f"recognition failed: {type(exc).__name__}")


def checked_ink(job: RecognizeJob) -> list:
    """The job's validated strokes; a dot (or an ink too small to have a shape) is ``degenerate_ink``,
    as at every edge."""
    strokes = validate_ink(job.ink)
    if is_degenerate(strokes):
        raise InkError("degenerate_ink", "the drawing is a single dot: draw the whole character")
    return strokes


class RecognitionEngine:
    def __init__(self, recognizer: BaseRecognizer, worker_name: str):
        self.recognizer = recognizer
        self.worker_name = worker_name

    def run(self, jobs: list[RecognizeJob], taken_at: float | None = None) -> list[Event]:
        """One event per job, in order: a prediction, or an error for ink that fails validation."""
        taken_at = time.time() if taken_at is None else taken_at
        events: list[Event | None] = [None] * len(jobs)
        good, inks = [], []
        for i, job in enumerate(jobs):
            try:
                inks.append(checked_ink(job))
                good.append(i)
            except InkError as exc:
                events[i] = error_event(job, exc.code, exc.message)
            except Exception as exc:  # a validator bug: this job's answer, not the batch's
                log.exception("job %s could not be validated", job.job_id)
                events[i] = internal_error(job, exc)
        if not good:
            return events  # type: ignore[return-value]
        try:
            whole = self.recognizer.recognize(inks)
            results: list = [(whole, row) for row in range(len(good))]
        except Exception:
            log.exception("a batch of %d failed; running its jobs one at a time", len(good))
            results = [self._alone(ink) for ink in inks]
        for i, (result, row) in zip(good, results, strict=True):
            job = jobs[i]
            if isinstance(result, BaseException):
                events[i] = internal_error(job, result)
                continue
            try:
                events[i] = self._prediction(job, result, row, taken_at)
            except Exception as exc:
                log.exception("job %s could not be answered", job.job_id)
                events[i] = internal_error(job, exc)
        return events  # type: ignore[return-value]

    def _alone(self, ink: list) -> tuple[BatchResult | BaseException, int]:
        try:
            return self.recognizer.recognize([ink]), 0
        except Exception as exc:
            log.exception("one job of the batch failed on its own")
            return exc, 0

    def _prediction(self, job: RecognizeJob, result: BatchResult, row: int, taken_at: float) -> Event:
        n = len(result.probs)
        timings = Timings(
            queue_ms=round(max(0.0, taken_at - job.created_at) * 1000, 3),
            render_ms=round(result.render_ms / n, 4),
            inference_ms=round(result.inference_ms / n, 4),
            batch_size=n,
        )
        probs = result.probs[row]
        verdict = judge(probs, job.target, self.recognizer.rule) if job.target else None
        shape = shape_guess(probs)
        return PredictionEvent(
            job_id=job.job_id,
            drawing_id=job.drawing_id,
            seq=job.seq,
            reply_to=job.reply_to,
            top=[Label(**t) for t in self.recognizer.top(probs, job.top_k)],
            shape=ShapeGuess(**shape) if shape else None,
            practice=PracticeVerdict(**verdict.to_dict()) if verdict else None,
            model=self.recognizer.version,
            timings=timings,
            worker=self.worker_name,
            created_at=job.created_at,
            meta=job.meta,
        )
