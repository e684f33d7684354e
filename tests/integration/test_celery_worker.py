"""The Celery worker process: configuration, the batching bootstep, and the unbatched baseline task."""

from __future__ import annotations

from bus.schemas import RecognizeJob
from tests.helpers import Proc, inkbus_cmd, sample_ink, wait_until
from workers.celery_app import create_celery


def test_celery_is_json_only_with_late_acks(settings):
    conf = create_celery(settings).conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_pool in {"solo", "threads", "prefork"}


def test_worker_process_serves_batched_jobs_and_the_unbatched_task(settings, rabbit_url, collector, tmp_path):
    from producers.publisher import JobPublisher

    env = {
        "INKBUS_BROKER_URL": rabbit_url,
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_WORKER_POOL": "threads",
    }
    worker = Proc(inkbus_cmd("worker"), env, tmp_path / "worker.log")
    rows = sample_ink()[:6]
    try:
        batched = [RecognizeJob(ink={"strokes": r["strokes"]}, reply_to=collector.edge_id) for r in rows[:3]]
        pub = JobPublisher(settings, rabbit_url)
        for j in batched:
            pub.publish(j)
        pub.close()
        app = create_celery(settings)
        single = [RecognizeJob(ink={"strokes": r["strokes"]}, reply_to=collector.edge_id) for r in rows[3:]]
        for j in single:
            app.send_task("inkbus.recognize_one", args=[j.model_dump(mode="json")])
        wanted = {j.job_id for j in batched + single}
        wait_until(lambda: wanted <= set(collector.delivered), 60, what="batched and unbatched answers")
        assert all(collector.events[j.job_id]["timings"]["batch_size"] == 1 for j in single)
        assert all(collector.events[j.job_id]["worker"].endswith("-task") for j in single)
        assert "started 1 batching consumer" in worker.output()
    finally:
        worker.kill()
