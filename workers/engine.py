"""Jobs in, events out: the recognition step shared by the batching consumer and the Celery task.

No bus I/O here, so it is tested without a broker and reused by every way of consuming jobs.
"""

from __future__ import annotations

import time

from bus.schemas import ErrorEvent, Label, PracticeVerdict, PredictionEvent, RecognizeJob, ShapeGuess, Timings
from ml.ink import InkError, validate_ink
from ml.practice import judge, shape_guess
from ml.serving import BaseRecognizer

Event = PredictionEvent | ErrorEvent


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
                inks.append(validate_ink(job.ink))
                good.append(i)
            except InkError as exc:
                events[i] = ErrorEvent(
                    job_id=job.job_id, reply_to=job.reply_to, code=exc.code, message=exc.message, meta=job.meta
                )
        if good:
            result = self.recognizer.recognize(inks)
            n = len(good)
            for row, i in enumerate(good):
                job = jobs[i]
                timings = Timings(
                    queue_ms=round(max(0.0, taken_at - job.created_at) * 1000, 3),
                    render_ms=round(result.render_ms / n, 4),
                    inference_ms=round(result.inference_ms / n, 4),
                    batch_size=n,
                )
                probs = result.probs[row]
                verdict = judge(probs, job.target, self.recognizer.rule) if job.target else None
                shape = shape_guess(probs)
                events[i] = PredictionEvent(
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
        return events  # type: ignore[return-value]
