"""``inkbus models list|show|rollback`` and ``promote``'s argument checks: what they print, and coded errors for
what cannot be done (no broker needed: nothing here announces a change)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from inkbus.cli import main as cli
from ml.registry import Registry
from tests.loop_tools import versioned_copy


@pytest.fixture
def registry(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("INKBUS_MODEL_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("INKBUS_LOG_JSON", "false")
    reg = Registry.open(tmp_path / "registry")
    for v in ("cli-a", "cli-b"):
        reg.register(versioned_copy(settings.model_path, tmp_path / f"{v}.pt", v))
    return reg


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout


def test_list_marks_the_serving_version(registry):
    registry.set_serving("cli-a", reason="first")
    registry.update("cli-a", figures={"overall:top1": {"current": 0.7, "candidate": 0.8}})  # as promote writes them
    code, out = _run("models", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("* cli-a") and lines[1].startswith("  cli-b")
    assert lines[0].endswith("top-1 0.8000") and lines[1].endswith("not evaluated")


def test_show_and_coded_errors(registry):
    code, out = _run("models", "show")
    assert code == 2 and json.loads(out)["error"]["code"] == "no_serving_model"
    code, out = _run("models", "show", "nope")
    assert code == 2 and json.loads(out)["error"]["code"] == "unknown_version"
    registry.set_serving("cli-b", reason="first")
    code, out = _run("models", "show")
    body = json.loads(out)
    assert (
        code == 0
        and body["version"] == "cli-b"
        and body["serving"]
        and body["alias"]["history"][0]["reason"] == "first"
    )
    code, out = _run("models", "rollback")  # nothing served before cli-b
    assert code == 2 and json.loads(out)["error"]["code"] == "nothing_to_roll_back_to"


def test_a_forced_promotion_must_say_why(registry, tmp_path):
    code, out = _run("promote", str(tmp_path / "cli-a.pt"), "--force")
    assert code == 2 and json.loads(out)["error"]["code"] == "reason_required"
    assert registry.serving() is None  # refused before anything was touched


def test_a_file_that_is_no_artifact_is_a_coded_error(registry, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    code, out = _run("promote", str(junk))
    assert code == 2 and json.loads(out)["error"]["code"] == "invalid_candidate"


def test_an_unreachable_broker_is_reported_and_the_alias_has_moved(registry, monkeypatch):
    from tests.helpers import free_port

    monkeypatch.setenv("INKBUS_BROKER_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}//")  # nobody listens
    monkeypatch.setenv("INKBUS_BROKER_CONNECT_TIMEOUT_S", "0.5")
    registry.set_serving("cli-a", reason="first")
    registry.set_serving("cli-b", reason="second")
    code, out = _run("models", "rollback")
    body = json.loads(out)
    assert code == 3 and body["error"]["code"] == "broker_unavailable" and "reconnect" in body["error"]["message"]
    assert registry.serving().version == "cli-a"
