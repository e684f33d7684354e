"""A bounded schemathesis run against the served OpenAPI document: generated requests (valid and
invalid) to every operation of an edge with an in-process worker; no 5xx, and every answer conforms to
the document (status documented, body matching its schema)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from web.app import create_app

CASES_PER_OPERATION = 120


@pytest.fixture(scope="module")
def api_schema(settings, memory_worker):
    app, _ = create_app(settings, broker_url="memory://", local_workers=lambda: int(memory_worker.ready.is_set()))
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    app.extensions["inkbus.bridge"].stop()


def test_the_api_answers_generated_requests_as_documented(api_schema):
    # schemathesis' pytest plugin does not run under this pytest: its strategies are driven directly.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/recognize", "/readyz", "/healthz"}
    statuses: list[int] = []
    for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @hsettings(max_examples=CASES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
                   derandomize=True, database=None)  # fmt: skip
        def run(case):
            # Schema-valid ink may still be refused with a documented 422: a single dot (degenerate_ink) or
            # only empty strokes (empty_ink) have no JSON Schema; every other check runs.
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            statuses.append(response.status_code)
            assert response.status_code < 500, response.text

        try:
            run()
        except Unsatisfiable:  # an operation without parameters or a body has no invalid request to make
            assert mode is GenerationMode.NEGATIVE, operation.path
    assert len(statuses) >= 150 and {200, 400, 422} <= set(statuses), sorted(set(statuses))
