from bus.schemas import RecognizeJob
from tests.helpers import sample_ink
from workers.engine import RecognitionEngine


def test_one_event_per_job_in_order_with_errors_inline(recognizer):
    rows = sample_ink()[:5]
    jobs = [RecognizeJob(ink={"strokes": r["strokes"]}, top_k=3, meta={"i": i}) for i, r in enumerate(rows)]
    jobs.insert(2, RecognizeJob(ink={"strokes": [[["x", 1]]]}))
    jobs.insert(4, RecognizeJob(ink={"strokes": []}))
    events = RecognitionEngine(recognizer, "w").run(jobs)
    assert [e.type for e in events] == [
        "prediction",
        "prediction",
        "error",
        "prediction",
        "error",
        "prediction",
        "prediction",
    ]
    assert events[2].code == "invalid_ink" and events[4].code == "empty_ink"
    preds = [e for e in events if e.type == "prediction"]
    assert [e.meta["i"] for e in preds] == list(range(5))
    assert all(len(e.top) == 3 and e.timings.batch_size == 5 and e.model == recognizer.version for e in preds)
    assert [e.job_id for e in events] == [j.job_id for j in jobs]
