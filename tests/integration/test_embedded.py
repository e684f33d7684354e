"""``inkbus run``: one command, on RabbitMQ when reachable, otherwise in-process, and it says which."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from tests.helpers import Proc, free_port, http_ok, inkbus_cmd, load_json, wait_until


@pytest.mark.parametrize("broker", ["rabbitmq", "unreachable"])
def test_inkbus_run_serves_recognitions(settings, rabbit_url, clean_bus, tmp_path, broker):
    port = free_port()
    url = rabbit_url if broker == "rabbitmq" else f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    env = {"INKBUS_BROKER_URL": url, "INKBUS_PORT": str(port), "INKBUS_MODEL_PATH": str(settings.model_path)}
    app = Proc(inkbus_cmd("run"), env, tmp_path / "run.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(base + "/readyz"), 60, what="inkbus run ready")
        out = app.output()
        assert f"http://127.0.0.1:{port}/" in out
        if broker == "rabbitmq":
            assert f"bus on RabbitMQ at amqp://127.0.0.1:{urlsplit(rabbit_url).port}" in out
        else:
            assert "in-process transport" in out and "not reachable" in out
        digit = load_json("digit_7.json")
        res = requests.post(base + "/api/v1/recognize", json=digit, timeout=15)
        assert res.status_code == 200, res.text
        assert res.json()["top"][0]["label"] == digit["label"]
    finally:
        app.kill()
