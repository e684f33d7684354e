"""Live model swap: a promoted model is fetched, verified and loaded beside the serving one, off the
consumers' threads; each batching consumer switches to it between two batches.

Why between batches: ``RecognitionEngine.run`` reads the recogniser once per batch, so a batch is
answered wholly by the old model or wholly by the new one, and its events name the version that
made them. Nothing is dropped or requeued: jobs keep flowing to the old model while the new one
loads (TorchScript load, freeze, warm-up), and the switch is one reference assignment.

A model that cannot be fetched, whose checksum or version does not match the notice, or that does
not load, is refused: the old model keeps serving and an alert (``alert.ops``) says why.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from bus.schemas import AlertEvent, ModelPromoted
from foundation.settings import Settings
from ml.registry import Registry, fetch_artifact, file_sha256, runtime_file
from ml.serving import BaseRecognizer, open_recognizer

log = logging.getLogger("inkbus.worker")


def initial_model(settings: Settings) -> tuple[Path, str]:
    """The file a worker starts with, and its SHA-256: the registry's serving model when ``model_from_registry`` is
    on and one is set (a restarted worker keeps the promoted model), else the configured file (``model_path``, or
    ``onnx_model_path`` for ONNX Runtime). The file is the one ``settings.runtime`` serves."""
    local = Path(settings.onnx_model_path if settings.runtime == "onnx" else settings.model_path)
    if settings.model_from_registry:
        root = settings.registry_root()
        serving = Registry.open(root, settings.object_store_endpoint(root)).serving()
        artifact = runtime_file(serving, settings.runtime) if serving is not None else None
        if artifact is not None:
            uri, sha = artifact
            return fetch_artifact(uri, sha, settings.model_cache_dir, settings.object_store_endpoint(uri)), sha
        if serving is None:
            log.info("the registry has no serving model yet: starting with %s", local)
        else:
            log.warning("the registry's serving %s has no %s file: starting with %s", serving.version,
                        settings.runtime, local)  # fmt: skip
    return local, file_sha256(local)


def artifact_of(note: ModelPromoted, runtime: str) -> tuple[str, str]:
    """The (URI, SHA-256) of the file a worker of ``runtime`` loads for ``note``; ValueError when there is none."""
    found = runtime_file(note, runtime)
    if found is None:
        raise ValueError(f"version {note.version} has no ONNX export in the registry (`inkbus promote` makes one)")
    return found


class ModelSwapper:
    """One per worker process, shared by its consumers; promotions load one at a time, in order."""

    def __init__(
        self,
        settings: Settings,
        recognizer: BaseRecognizer,
        sha256: str,
        worker: str,
        load: Callable[[Path], BaseRecognizer] | None = None,
        on_swap: Callable[[BaseRecognizer], None] | None = None,
        offload: Callable | None = None,
    ):
        self.settings = settings
        self.worker = worker
        self._load = load or (lambda path: open_recognizer(settings, path=path))
        self._on_swap = on_swap
        # Under gevent the loader "thread" is a greenlet: ``offload`` puts the load on a real thread.
        self._offload = offload or (lambda fn, *a: fn(*a))
        self._current = recognizer
        self._sha = sha256
        self._lock = threading.Lock()
        self._alerts: deque[AlertEvent] = deque(maxlen=100)
        self._todo: queue.Queue[ModelPromoted] = queue.Queue()
        self._seen: set[tuple[str, bool, float]] = set()  # each consumer hears the same notice once
        self._thread = threading.Thread(target=self._loader, name="inkbus-model-loader", daemon=True)
        self._thread.start()

    # -- what consumers call (their own thread)
    def current(self) -> BaseRecognizer:
        return self._current

    def on_control(self, body: dict) -> None:
        """A ``model.promoted`` body from a control queue; anything malformed is logged and ignored."""
        try:
            note = ModelPromoted.model_validate(body)
        except ValidationError as exc:
            log.error("malformed model.promoted notice ignored: %s", exc.errors()[:1])
            return
        key = (note.sha256, note.rollback, note.produced_at)
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        self._todo.put(note)

    def resync(self) -> None:
        """After a (re)connection: notices sent while a consumer was away are lost (the control exchange is
        transient), so compare with the registry's serving alias and adopt it if it moved on."""
        if self.settings.model_from_registry:
            self._todo.put(None)  # type: ignore[arg-type]  # None: "ask the registry"

    def take_alerts(self) -> list[AlertEvent]:
        out = []
        while self._alerts:
            try:
                out.append(self._alerts.popleft())
            except IndexError:  # another consumer took the last one
                break
        return out

    # -- the loader thread
    def _loader(self) -> None:
        while True:
            note = self._todo.get() or self._from_registry()
            if note is None:
                continue
            try:
                self._adopt(note)
            except Exception as exc:  # whatever went wrong, the serving model stays
                old = self._current.version
                log.error("model %s refused, %s keeps serving: %s", note.version, old, exc)
                self._alerts.append(
                    AlertEvent(
                        level="error",
                        title=f"worker {self.worker} refused model {note.version}; {old} keeps serving",
                        text=str(exc)[:500],
                    )
                )

    def _from_registry(self) -> ModelPromoted | None:
        root = self.settings.registry_root()
        try:
            serving = Registry.open(root, self.settings.object_store_endpoint(root)).serving()
        except Exception as exc:  # an unreachable registry: keep serving, the next notice or reconnect retries
            log.warning("cannot read the registry %s: %s", root, exc)
            return None
        if serving is None:
            return None
        found = runtime_file(serving, self.settings.runtime)
        if found is not None and found[1] == self._sha:
            return None  # nothing new (a version without this runtime's file is refused by _adopt, with an alert)
        return ModelPromoted(**asdict(serving))

    def _adopt(self, note: ModelPromoted) -> None:
        uri, sha = artifact_of(note, self.settings.runtime)
        if sha == self._sha:
            return
        endpoint = self.settings.object_store_endpoint(uri)
        path = fetch_artifact(uri, sha, self.settings.model_cache_dir, endpoint)
        recognizer = self._offload(self._load, path)  # loads, freezes and warms up: the slow part, off the consumers
        if recognizer.version != note.version:
            raise ValueError(f"the artifact says version {recognizer.version!r}, the notice {note.version!r}")
        with self._lock:
            self._current, self._sha = recognizer, sha
        log.info("model %s loaded (%s); consumers switch at their next batch", note.version, sha[:12])
        if self._on_swap is not None:
            self._on_swap(recognizer)


def start_serving(settings: Settings, worker: str, offload: Callable | None = None) -> ModelSwapper:
    """Load the worker process's first model and the swapper its consumers share."""
    from observability.metrics import set_model

    path, sha = initial_model(settings)
    recognizer = open_recognizer(settings, path=path)
    set_model(recognizer.version)
    return ModelSwapper(settings, recognizer, sha, worker, on_swap=lambda r: set_model(r.version), offload=offload)
