"""The batching consumer's tests share a tap on the events exchange of the memory transport, a stand-in
recogniser and a consumer answering with it (tests/unit/workers/test_batcher_acks.py)."""

from __future__ import annotations

import pytest

from ml.serving import FEATURES
from tests.unit.workers.test_batcher import Events
from tests.unit.workers.test_batcher_acks import Fixed
from workers.batcher import BatchingConsumer
from workers.engine import RecognitionEngine

BAD_POINT = [777, 1]  # the last point of the ink that ``fail_features_on_one_ink`` makes the feature code fail on


@pytest.fixture
def fail_features_on_one_ink(monkeypatch):
    """A feature bug (rendering or pen path) that only inks ending at ``BAD_POINT`` trigger: both feature makers
    fail on them, whichever a model calls first (a cascade renders only what its first stage is unsure of)."""

    def failing(real):
        def features(inks):
            if any(s[-1].tolist() == BAD_POINT for ink in inks for s in ink):
                raise FloatingPointError("a rendering bug one ink triggers")
            return real(inks)

        return features

    for name in ("image", "sequence"):
        monkeypatch.setitem(FEATURES, name, failing(FEATURES[name]))


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
