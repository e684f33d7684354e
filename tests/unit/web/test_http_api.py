"""The HTTP API over the in-process transport with a worker thread (no broker needed)."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.helpers import sample_ink
from web.app import create_app


@pytest.fixture(scope="module")
def client(settings, memory_worker):
    app, _ = create_app(settings, broker_url="memory://", local_workers=lambda: int(memory_worker.ready.is_set()))
    yield app.test_client()
    app.extensions["inkbus.bridge"].stop()


def test_recognize_answers_through_the_bus(client, recognizer):
    row = next(r for r in sample_ink() if r["label"] == "7")
    res = client.post("/api/v1/recognize?top=4", json={"strokes": row["strokes"]})
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert len(body["top"]) == 4 and body["model"] == recognizer.version
    assert set(body["timings"]) >= {"queue_ms", "render_ms", "inference_ms", "batch_size", "total_ms"}
    assert body["top"][0]["p"] >= body["top"][1]["p"]


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b'{"strokes": []}', 422, "empty_ink"),
        (b'{"strokes": [[[1, 2]]]}', 422, "degenerate_ink"),
        (b'{"strokes": [[[1, "2"]]]}', 422, "invalid_ink"),
        (b'{"strokes": [[[1, 2], [1e309, 0]]]}', 422, "non_finite"),
        (b'{"strokes": [[[1, 2], [1' + b"0" * 400 + b", 0]]]}", 422, "out_of_range"),  # a huge JSON integer
        (b'{"strokes": [[[0, 0], [3, 3]]], "top_k": 99}', 422, "invalid_request"),
        (b'{"strokes": [[[0, 0], [3, 3]]], "top_k": true}', 422, "invalid_request"),
        (b"[" + b" " * (70 * 1024) + b"]", 413, "payload_too_large"),
    ],
)
def test_bad_requests_get_coded_errors(client, data, status, code):
    res = client.post("/api/v1/recognize", data=data, content_type="application/json")
    assert res.status_code == status
    assert res.get_json()["error"]["code"] == code and res.get_json()["error"]["message"]


def test_health_ready_openapi_and_json_404(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["workers"] == 1
    doc = client.get("/api/v1/openapi.json").get_json()
    from openapi_spec_validator import validate

    validate(doc)
    assert "/api/v1/recognize" in doc["paths"]
    assert client.get("/nope").get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/recognize").status_code == 405


payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda c: st.lists(c, max_size=5) | st.dictionaries(st.sampled_from(["strokes", "top_k", "x"]), c, max_size=3),
    max_leaves=40,
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(payloads, st.fixed_dictionaries({"strokes": payloads})))
def test_random_payloads_never_500(client, payload):
    res = client.post("/api/v1/recognize", data=json.dumps(payload), content_type="application/json")
    assert res.status_code in (200, 400, 413, 422), res.get_data()
    if res.status_code != 200:
        assert res.get_json()["error"]["code"]
