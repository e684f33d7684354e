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


def _jobs(n: int) -> list[RecognizeJob]:
    return [RecognizeJob(ink={"strokes": r["strokes"]}, top_k=3) for r in sample_ink()[:n]]


def test_an_ink_too_small_to_have_a_shape_is_degenerate_and_its_batch_is_answered(recognizer):
    honest = _jobs(30)
    crafted = RecognizeJob(ink={"strokes": [[[0, 0], [5e-324, 0]]]})
    events = RecognitionEngine(recognizer, "w").run([*honest[:15], crafted, *honest[15:]])
    assert events[15].type == "error" and events[15].code == "degenerate_ink"
    assert [e.type for e in events[:15] + events[16:]] == ["prediction"] * 30
    assert all(e.timings.batch_size == 30 for e in events if e.type == "prediction")


def test_a_job_that_fails_to_render_is_answered_internal_error_alone(recognizer, fail_features_on_one_ink):
    """A rasteriser bug that only one ink triggers: the batch is rerun job by job, the others answered."""
    jobs = _jobs(6)
    culprit = jobs[2].model_copy(update={"ink": {"strokes": [[[0, 0], [777, 1]]]}})
    jobs[2] = culprit
    events = RecognitionEngine(recognizer, "w").run(jobs)
    assert [e.type for e in events] == ["prediction"] * 2 + ["error"] + ["prediction"] * 3
    assert events[2].code == "internal_error" and events[2].job_id == culprit.job_id
    assert "FloatingPointError" in events[2].message
    alone = RecognitionEngine(recognizer, "w").run([jobs[0]])[0]
    assert [t.label for t in events[0].top] == [t.label for t in alone.top]


def test_a_forward_pass_that_fails_for_the_batch_is_retried_job_by_job(recognizer, monkeypatch):
    real = recognizer.recognize

    def only_singles(inks):
        if len(inks) > 1:
            raise RuntimeError("out of memory for a batch")
        return real(inks)

    monkeypatch.setattr(recognizer, "recognize", only_singles)
    events = RecognitionEngine(recognizer, "w").run(_jobs(4))
    assert [e.type for e in events] == ["prediction"] * 4
    assert all(e.timings.batch_size == 1 for e in events)
