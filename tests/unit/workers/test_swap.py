"""The model swapper of a worker process, without a broker: what it adopts, what it refuses, and catching up
with the registry after a disconnection."""

from __future__ import annotations

import pytest

from bus.schemas import ModelPromoted
from ml.registry import Registry, file_sha256
from tests.helpers import wait_until
from tests.loop_tools import versioned_copy
from workers.swap import ModelSwapper, initial_model


@pytest.fixture
def world(settings, recognizer, tmp_path):
    """A registry holding swap-a (what the worker serves) and swap-b, and a swapper serving swap-a."""
    registry = Registry.open(tmp_path / "registry")
    for v in ("swap-a", "swap-b"):
        registry.register(versioned_copy(settings.model_path, tmp_path / f"{v}.pt", v))
    registry.set_serving("swap-a", reason="start")
    where = {"model_registry": str(tmp_path / "registry"), "model_cache_dir": tmp_path / "cache"}
    s = settings.model_copy(update={**where, "model_from_registry": True})
    path, sha = initial_model(s)
    assert sha == registry.entry("swap-a")["sha256"] and file_sha256(path) == sha
    from ml.recognizer import Recognizer

    swapper = ModelSwapper(s, Recognizer(path), sha, "unit-worker")
    return registry, swapper


def _note(registry, version: str, **kw) -> dict:
    e = registry.entry(version)
    return ModelPromoted(version=version, uri=e["uri"], sha256=e["sha256"], **kw).model_dump(mode="json")


def test_a_promotion_is_adopted_once_and_a_rollback_comes_from_the_cache(world):
    registry, swapper = world
    note = _note(registry, "swap-b")
    swapper.on_control(note)
    swapper.on_control(note)  # the same notice from a second consumer's control queue
    wait_until(lambda: swapper.current().version == "swap-b", 60, what="swap-b adopted")
    assert swapper.take_alerts() == []
    swapper.on_control(_note(registry, "swap-a", rollback=True))
    wait_until(lambda: swapper.current().version == "swap-a", 60, what="rolled back to swap-a")


def test_a_notice_whose_artifact_says_another_version_is_refused(world):
    registry, swapper = world
    liar = {**_note(registry, "swap-b"), "version": "swap-c"}
    swapper.on_control(liar)
    alerts = wait_until(swapper.take_alerts, 60, what="an alert")
    assert alerts[0].level == "error" and "refused model swap-c; swap-a keeps serving" in alerts[0].title
    assert "says version 'swap-b'" in alerts[0].text and swapper.current().version == "swap-a"


def test_a_malformed_notice_is_ignored(world):
    _, swapper = world
    swapper.on_control({"type": "model.promoted", "version": "x", "uri": "", "sha256": "nothex"})
    assert swapper.current().version == "swap-a" and swapper.take_alerts() == []


def test_after_a_disconnection_the_worker_catches_up_with_the_registry(world):
    registry, swapper = world
    registry.set_serving("swap-b", reason="promoted while this worker was away")  # no notice reached it
    swapper.resync()
    wait_until(lambda: swapper.current().version == "swap-b", 60, what="caught up with the registry")
