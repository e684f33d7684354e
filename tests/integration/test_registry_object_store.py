"""The registry on an object store: a local server speaking the S3 protocol (moto in server mode) stands in for
S3 and for Cloud Storage's S3-compatible XML API. The same code the workers run fetches and verifies."""

from __future__ import annotations

import sys

import pytest

from ml.registry import Registry, RegistryError, fetch_artifact, file_sha256
from tests.helpers import Proc, free_port, port_open, wait_until
from tests.loop_tools import versioned_copy


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    pytest.importorskip("moto", reason="moto[server] (the test extra) provides the local S3 endpoint")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Proc([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}, log)
    try:
        wait_until(lambda: port_open(port), 60, what="the local S3 endpoint")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")  # the stand-in accepts any key
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"inkbus-models-{free_port()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_register_serve_fetch_and_roll_back_on_an_object_store(scheme, bucket, s3_endpoint, settings, tmp_path):
    registry = Registry.open(f"{scheme}://{bucket}/inkbus", s3_endpoint)
    for v in ("obj-v1", "obj-v2"):
        registry.register(versioned_copy(settings.model_path, tmp_path / f"{v}.pt", v), figures={"note": v})
    assert [e["version"] for e in registry.entries()] == ["obj-v1", "obj-v2"]
    registry.set_serving("obj-v1", reason="first")
    serving = registry.set_serving("obj-v2", reason="better")
    assert serving.uri == f"{scheme}://{bucket}/inkbus/versions/obj-v2/model.pt"
    assert registry.previous_version() == "obj-v1"

    path = fetch_artifact(serving.uri, serving.sha256, tmp_path / "cache", s3_endpoint)
    assert file_sha256(path) == serving.sha256 == file_sha256(tmp_path / "obj-v2.pt")

    registry.blobs.put("versions/obj-v2/model.pt", b"not the artifact")  # damaged in the store
    with pytest.raises(RegistryError, match="sha256"):
        fetch_artifact(serving.uri, serving.sha256, tmp_path / "other-cache", s3_endpoint)
    with pytest.raises(RegistryError, match="cannot fetch"):
        missing = f"{scheme}://{bucket}/inkbus/versions/nope/model.pt"
        fetch_artifact(missing, serving.sha256, tmp_path / "c", s3_endpoint)

    registry.set_serving("obj-v1", reason="back", rollback=True)
    assert registry.serving().version == "obj-v1" and registry.previous_version() is None
