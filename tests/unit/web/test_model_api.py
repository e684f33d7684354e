"""``GET /api/v1/model``: the registry's serving model when there is one, else the artifact; lately seen versions."""

from __future__ import annotations

import pytest

from ml.registry import Registry, read_meta
from tests.loop_tools import versioned_copy
from web.app import create_app


@pytest.fixture
def make_client(settings, tmp_path, monkeypatch):
    monkeypatch.setattr("web.model_api.CACHE_S", 0.0)
    apps = []

    def _make(**overrides):
        s = settings.model_copy(update={"model_registry": str(tmp_path / "registry"), **overrides})
        app, _ = create_app(s, broker_url="memory://", start_bridge=False)
        apps.append(app)
        return app.test_client(), app

    yield _make
    for app in apps:
        app.extensions["inkbus.bridge"].stop()


def test_without_a_registry_entry_the_artifact_answers(make_client, settings):
    client, _ = make_client()
    body = client.get("/api/v1/model").get_json()
    meta = read_meta(settings.model_path)
    assert body["source"] == "artifact" and body["version"] == meta["version"] and len(body["classes"]) == 62
    assert body["recent"] == {}


def test_the_serving_version_its_figures_and_recent_answers(make_client, settings, tmp_path):
    registry = Registry.open(tmp_path / "registry")
    entry = registry.register(versioned_copy(settings.model_path, tmp_path / "v2.pt", "api-v2"))
    registry.update("api-v2", figures={"overall:top1": {"current": 0.8, "candidate": 0.83}})
    registry.set_serving("api-v2", reason="better on the gate")
    client, app = make_client()
    view = app.extensions["inkbus.model_view"]
    for model in ("api-v1", "api-v2", "api-v2"):
        view.on_event({"type": "prediction", "model": model})
    view.on_event({"type": "feedback", "model": "ignored"})
    body = client.get("/api/v1/model").get_json()
    assert body["version"] == "api-v2" and body["sha256"] == entry["sha256"] and body["source"] == "registry"
    assert body["figures"] == {"overall:top1": 0.83} and body["reason"] == "better on the gate"
    assert body["recent"] == {"api-v1": 1, "api-v2": 2}


def test_no_registry_and_no_artifact_is_a_coded_503(make_client, tmp_path):
    client, _ = make_client(model_path=tmp_path / "missing.pt")
    res = client.get("/api/v1/model")
    assert res.status_code == 503 and res.get_json()["error"]["code"] == "model_unknown"
