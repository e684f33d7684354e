"""The model registry: versioned artifacts, their metadata and figures, and the ``serving`` alias.

Layout under the registry root (a folder, or ``s3://bucket/prefix`` / ``gs://bucket/prefix``)::

    versions/<version>/model.pt      the artifact, byte for byte as trained
    versions/<version>/model.onnx    the same model exported for ONNX Runtime (``attach_onnx``), when made
    versions/<version>/entry.json    version, sha256, parent, data, command, figures, registered_at, onnx
    aliases/serving.json             the serving version, its sha256 and URI (and its ONNX file's), and the
                                     history of changes

Only whole objects are written (never appended to), so the same code runs on a folder and on an
object store. The serving side (workers, the edge) reads through ``fetch_artifact`` and ``Registry``;
nothing here imports the training code.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ml.metadata import META_NAME

OBJECT_SCHEMES = ("s3", "gs")
SERVING = "serving"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done: unknown version, no serving model, bad artifact."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_meta(path: str | Path) -> dict:
    """An artifact's ``inkbus.json`` without loading torch: a TorchScript file is a zip archive."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith(f"/extra/{META_NAME}"))
            return json.loads(z.read(name))
    except (OSError, zipfile.BadZipFile, StopIteration, ValueError) as exc:
        raise RegistryError(f"{path} is not a model artifact with {META_NAME}: {exc}") from exc


class Blobs(Protocol):
    """The few object operations the registry needs; a folder and an S3-compatible bucket provide them."""

    def get(self, key: str) -> bytes: ...
    def put(self, key: str, data: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def keys(self, prefix: str) -> list[str]: ...
    def uri(self, key: str) -> str: ...


class FolderBlobs:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # readers see the old object or the new one, never half of one

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def uri(self, key: str) -> str:
        return str((self.root / key).resolve())


class BucketBlobs:
    """S3, or any store speaking its protocol (Cloud Storage's XML API, MinIO, a local stand-in)."""

    def __init__(self, uri: str, endpoint_url: str = ""):
        """``endpoint_url``: empty for AWS; Cloud Storage's XML API for gs:// (``Settings.object_store_endpoint``)."""
        parts = urlsplit(uri)
        self.scheme, self.bucket, self.prefix = parts.scheme, parts.netloc, parts.path.strip("/")
        import boto3  # only deployments with an object-store registry need it

        self.client = boto3.client("s3", endpoint_url=endpoint_url or None)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise KeyError(key) from exc

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def exists(self, key: str) -> bool:
        return bool(self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key)).get("KeyCount"))

    def keys(self, prefix: str) -> list[str]:
        out, strip = [], len(self._key(""))
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            out += [o["Key"][strip:] for o in page.get("Contents", [])]
        return sorted(out)

    def uri(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{self._key(key)}"


def blobs_for(root: str, endpoint_url: str = "") -> Blobs:
    if urlsplit(root).scheme in OBJECT_SCHEMES:
        return BucketBlobs(root, endpoint_url)
    return FolderBlobs(root)


def fetch_artifact(uri: str, sha256: str, cache_dir: str | Path, endpoint_url: str = "") -> Path:
    """The artifact at ``uri`` as a local file whose SHA-256 is ``sha256``; RegistryError otherwise.

    A verified copy is cached by checksum, so a rollback to a version seen before costs no download.
    """
    parts = urlsplit(uri)
    cached = Path(cache_dir) / f"{sha256}{Path(parts.path).suffix or '.pt'}"  # ONNX Runtime reads either
    if cached.is_file() and file_sha256(cached) == sha256:
        return cached
    try:
        if parts.scheme in OBJECT_SCHEMES:
            store = BucketBlobs(f"{parts.scheme}://{parts.netloc}", endpoint_url)
            data = store.get(parts.path.lstrip("/"))
        else:
            data = Path(parts.path if parts.scheme == "file" else uri).read_bytes()
    except Exception as exc:  # missing object, no permission, network: all mean "cannot fetch"
        raise RegistryError(f"cannot fetch {uri}: {type(exc).__name__}: {exc}") from exc
    got = sha256_of(data)
    if got != sha256:
        raise RegistryError(f"{uri} has sha256 {got[:12]}…, the promotion said {sha256[:12]}…: refused")
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return cached


@dataclass(frozen=True)
class Serving:
    version: str
    sha256: str
    uri: str
    onnx_uri: str | None = None  # the same model for ONNX Runtime workers, when the version has one
    onnx_sha256: str | None = None


def runtime_file(record, runtime: str) -> tuple[str, str] | None:
    """The (URI, SHA-256) a worker of ``runtime`` serves for ``record`` (a ``Serving``, or a ``model.promoted``
    notice: the same fields); None when that version has no file for the runtime."""
    if runtime != "onnx":
        return record.uri, record.sha256
    return (record.onnx_uri, record.onnx_sha256) if record.onnx_uri and record.onnx_sha256 else None


class Registry:
    def __init__(self, blobs: Blobs):
        self.blobs = blobs

    @classmethod
    def open(cls, root: str | Path, endpoint_url: str = "") -> Registry:
        return cls(blobs_for(str(root), endpoint_url))

    # -- versions
    def register(self, artifact: str | Path, **extra) -> dict:
        """Copy an artifact in under the version its metadata names; ``extra`` joins its entry."""
        meta = read_meta(artifact)
        version = str(meta.get("version", ""))
        if not version or "/" in version:
            raise RegistryError(f"{artifact}: its metadata names no usable version ({version!r})")
        data = Path(artifact).read_bytes()
        digest = sha256_of(data)
        key = f"versions/{version}/model.pt"
        if self.blobs.exists(key):
            old = self.entry(version)
            if old["sha256"] != digest:
                raise RegistryError(f"version {version} is registered with other bytes: give it a new version")
            return old
        self.blobs.put(key, data)
        entry = {
            "version": version,
            "sha256": digest,
            "uri": self.blobs.uri(key),
            "bytes": len(data),
            "classes": meta.get("classes", ""),
            "parent": meta.get("parent"),
            "data": meta.get("snapshot") or meta.get("data"),
            "command": meta.get("command"),
            "registered_at": time.time(),
            "figures": {},
            **extra,
        }
        self._put_json(f"versions/{version}/entry.json", entry)
        return entry

    def attach_onnx(self, version: str, onnx_file: str | Path) -> dict:
        """Store ``version``'s ONNX export beside its artifact, so ONNX Runtime workers can follow promotions."""
        self.entry(version)  # an unknown version is refused before anything is read or written
        data = Path(onnx_file).read_bytes()
        key = f"versions/{version}/model.onnx"
        self.blobs.put(key, data)
        onnx = {"uri": self.blobs.uri(key), "sha256": sha256_of(data), "bytes": len(data)}
        return self.update(version, onnx=onnx)

    def entry(self, version: str) -> dict:
        try:
            return json.loads(self.blobs.get(f"versions/{version}/entry.json"))
        except KeyError:
            raise RegistryError(f"no version {version!r} in the registry") from None

    def update(self, version: str, **fields) -> dict:
        entry = {**self.entry(version), **fields}
        self._put_json(f"versions/{version}/entry.json", entry)
        return entry

    def entries(self) -> list[dict]:
        names = [k for k in self.blobs.keys("versions/") if k.endswith("/entry.json")]
        return sorted((json.loads(self.blobs.get(k)) for k in names), key=lambda e: e["registered_at"])

    # -- the serving alias
    def alias(self) -> dict | None:
        try:
            return json.loads(self.blobs.get(f"aliases/{SERVING}.json"))
        except KeyError:
            return None

    def serving(self) -> Serving | None:
        a = self.alias()
        return _serving(a) if a else None

    def set_serving(
        self, version: str, *, reason: str, forced: bool = False, by: str = "", rollback: bool = False
    ) -> Serving:
        """Point ``serving`` at ``version``, keeping who moved it, when and why."""
        entry = self.entry(version)
        old = self.alias() or {"history": []}
        kind = "rollback" if rollback else "promote"
        change = {"version": version, "at": time.time(), "reason": reason, "forced": forced, "by": by, "kind": kind}
        alias = {
            "version": version,
            "sha256": entry["sha256"],
            "uri": entry["uri"],
            "onnx": entry.get("onnx"),
            "previous": old.get("version"),
            "history": [*old.get("history", []), change],
        }
        self._put_json(f"aliases/{SERVING}.json", alias)
        return _serving(entry)

    def previous_version(self) -> str | None:
        """The version that served before the current one (what ``rollback`` goes back to)."""
        a = self.alias()
        stack: list[str] = []
        for change in (a or {}).get("history", []):  # promotions push, rollbacks pop: two rollbacks go two back
            if change.get("kind") == "rollback":
                while stack and stack[-1] != change["version"]:
                    stack.pop()
            else:
                stack.append(change["version"])
        return stack[-2] if len(stack) > 1 else None

    def _put_json(self, key: str, obj: dict) -> None:
        self.blobs.put(key, json.dumps(obj, indent=1, sort_keys=True).encode())


def _serving(record: dict) -> Serving:
    """A version entry or the serving alias as ``Serving``: both keep the ONNX file under ``onnx``."""
    onnx = record.get("onnx") or {}
    return Serving(record["version"], record["sha256"], record["uri"], onnx.get("uri"), onnx.get("sha256"))
