"""ONNX Runtime workers follow promotions: the registry keeps each version's ONNX export beside its TorchScript
artifact, the notice names both, and a worker loads the file of its own runtime (or refuses a version without one)."""

from __future__ import annotations

import pytest

from bus.schemas import ModelPromoted
from ml.registry import Registry, RegistryError, fetch_artifact, file_sha256, runtime_file
from tests.helpers import wait_until
from tests.loop_tools import versioned_copy
from workers.swap import ModelSwapper, artifact_of, initial_model

pytest.importorskip("onnxruntime", reason="the serve-onnx extra is not installed")
pytest.importorskip("onnx", reason="exporting needs the train extra's onnx package")


def _export(pt, out):
    from ml.training.onnx_export import export_onnx

    export_onnx(pt, out)
    return out


@pytest.fixture(scope="module")
def registry_with_exports(settings, tmp_path_factory):
    """onnx-a and onnx-b with ONNX exports, torch-only-c without one; onnx-a serving."""
    tmp = tmp_path_factory.mktemp("onnx-registry")
    registry = Registry.open(tmp / "registry")
    for v in ("onnx-a", "onnx-b", "torch-only-c"):
        pt = versioned_copy(settings.model_path, tmp / f"{v}.pt", v)
        registry.register(pt)
        if v.startswith("onnx"):
            registry.attach_onnx(v, _export(pt, tmp / f"{v}.onnx"))
    registry.set_serving("onnx-a", reason="start")
    return registry, tmp


def _onnx_settings(settings, tmp_path, registry_root):
    return settings.model_copy(
        update={
            "runtime": "onnx",
            "model_registry": str(registry_root),
            "model_cache_dir": tmp_path / "cache",
            "model_from_registry": True,
        }
    )


def _note(registry, version: str, **kw) -> dict:
    e = registry.entry(version)
    onnx = e.get("onnx") or {}
    return ModelPromoted(
        version=version,
        uri=e["uri"],
        sha256=e["sha256"],
        onnx_uri=onnx.get("uri"),
        onnx_sha256=onnx.get("sha256"),
        **kw,
    ).model_dump(mode="json")


def test_the_registry_keeps_an_onnx_export_beside_the_artifact_and_the_alias_names_it(registry_with_exports):
    registry, _ = registry_with_exports
    entry = registry.entry("onnx-a")
    serving = registry.serving()
    assert serving.version == "onnx-a" and serving.onnx_sha256 == entry["onnx"]["sha256"] != entry["sha256"]
    assert runtime_file(serving, "onnx") == (entry["onnx"]["uri"], entry["onnx"]["sha256"])
    assert runtime_file(serving, "torch") == (entry["uri"], entry["sha256"])
    assert entry["onnx"]["uri"].endswith("versions/onnx-a/model.onnx") and entry["onnx"]["bytes"] > 0
    assert "onnx" not in registry.entry("torch-only-c") or registry.entry("torch-only-c")["onnx"] is None


def test_an_export_is_attached_only_to_a_registered_version(registry_with_exports, tmp_path):
    registry, tmp = registry_with_exports
    with pytest.raises(RegistryError, match="no version 'ghost'"):
        registry.attach_onnx("ghost", tmp / "onnx-a.onnx")
    assert not registry.blobs.exists("versions/ghost/model.onnx")


def test_a_fetched_onnx_file_is_cached_under_its_own_suffix(registry_with_exports, tmp_path):
    registry, _ = registry_with_exports
    uri, sha = runtime_file(registry.serving(), "onnx")
    path = fetch_artifact(uri, sha, tmp_path)
    assert path == tmp_path / f"{sha}.onnx" and file_sha256(path) == sha


def test_an_onnx_worker_starts_on_the_registrys_onnx_file_and_follows_a_promotion(
    settings, registry_with_exports, tmp_path
):
    from ml.serving import open_recognizer

    registry, _ = registry_with_exports
    s = _onnx_settings(settings, tmp_path, registry_root(registry))
    path, sha = initial_model(s)
    assert sha == registry.entry("onnx-a")["onnx"]["sha256"] and path.suffix == ".onnx"
    first = open_recognizer(s, path=path)
    assert first.runtime == "onnx" and first.version == "onnx-a"
    swapper = ModelSwapper(s, first, sha, "onnx-worker")
    swapper.on_control(_note(registry, "onnx-b"))
    wait_until(lambda: swapper.current().version == "onnx-b", 60, what="onnx-b adopted")
    assert swapper.current().runtime == "onnx" and swapper.take_alerts() == []


def test_an_onnx_worker_refuses_a_version_without_an_export_and_keeps_serving(
    settings, registry_with_exports, tmp_path
):
    from ml.serving import open_recognizer

    registry, _ = registry_with_exports
    s = _onnx_settings(settings, tmp_path, registry_root(registry))
    path, sha = initial_model(s)
    swapper = ModelSwapper(s, open_recognizer(s, path=path), sha, "onnx-worker")
    swapper.on_control(_note(registry, "torch-only-c"))
    alerts = wait_until(swapper.take_alerts, 60, what="an alert")
    assert "refused model torch-only-c; onnx-a keeps serving" in alerts[0].title
    assert "has no ONNX export" in alerts[0].text and swapper.current().version == "onnx-a"


def test_a_torch_worker_reads_the_torchscript_artifact_of_the_same_notice(registry_with_exports):
    registry, _ = registry_with_exports
    note = ModelPromoted.model_validate(_note(registry, "onnx-b"))
    entry = registry.entry("onnx-b")
    assert artifact_of(note, "torch") == (entry["uri"], entry["sha256"])
    assert artifact_of(note, "onnx") == (entry["onnx"]["uri"], entry["onnx"]["sha256"])


def test_an_onnx_worker_without_a_registry_model_starts_on_its_configured_file(settings, tmp_path):
    onnx = _export(settings.model_path, tmp_path / "local.onnx")
    s = settings.model_copy(
        update={
            "runtime": "onnx",
            "onnx_model_path": onnx,
            "model_from_registry": True,
            "model_registry": str(tmp_path / "empty-registry"),
        }
    )
    assert initial_model(s) == (onnx, file_sha256(onnx))


def registry_root(registry) -> str:
    return str(registry.blobs.root)
