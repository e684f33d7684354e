"""Recognition workers: a Celery worker hosting the micro-batching job consumer."""
