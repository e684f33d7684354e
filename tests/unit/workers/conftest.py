"""The batching consumer's tests share a tap on the events exchange of the memory transport, a stand-in
recogniser and a consumer answering with it (tests/unit/workers/test_batcher_acks.py)."""

from __future__ import annotations

import pytest

from tests.unit.workers.test_batcher import Events
from tests.unit.workers.test_batcher_acks import Fixed
from workers.batcher import BatchingConsumer
from workers.engine import RecognitionEngine


@pytest.fixture
def events():
    e = Events()
    yield e
    e.close()


@pytest.fixture
def model():
    return Fixed()


@pytest.fixture
def worker(settings, model, events):
    w = BatchingConsumer(settings, RecognitionEngine(model, "acks-worker"), url="memory://")
    w._conn = events.conn
    return w
