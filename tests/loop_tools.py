"""Helpers for the learning-loop tests: versioned copies of an artifact, a registry, an alert tap."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

from kombu import Consumer

from bus.connection import connect
from bus.topology import subscriber_queue
from ml.metadata import META_NAME


def versioned_copy(src: Path, dst: Path, version: str, **meta) -> Path:
    """The same network saved under another version (and extra metadata): a stand-in for a retrained model."""
    import torch

    extra = {META_NAME: ""}
    module = torch.jit.load(str(src), map_location="cpu", _extra_files=extra)
    full = {**json.loads(extra[META_NAME]), "version": version, **meta}
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(module, str(dst), _extra_files={META_NAME: json.dumps(full, sort_keys=True)})
    return dst


class AlertTap:
    """Every ``alert.*`` event, as the bots would see them, on a private auto-deleted queue."""

    def __init__(self, settings, url: str):
        self.alerts: list[dict] = []
        self._stop = threading.Event()
        self._conn = connect(settings.broker, url)
        queue = subscriber_queue(f"test-alerts-{uuid.uuid4().hex[:8]}", ["alert.*"], durable=False)
        self._consumer = Consumer(
            self._conn.default_channel, [queue], callbacks=[self._on], accept=["json"], no_ack=True
        )
        self._consumer.consume()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _on(self, body, message) -> None:
        self.alerts.append(body)

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self._conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass
            except Exception:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._conn.release()


def damaged_copy(src: Path, dst: Path, version: str, scale: float = 0.6, seed: int = 0) -> Path:
    """A deliberately worse model: the same network with noise of ``scale`` x each weight tensor's spread added."""
    import torch

    extra = {META_NAME: ""}
    module = torch.jit.load(str(src), map_location="cpu", _extra_files=extra)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.numel() > 1:
                p.add_(torch.randn(p.shape, generator=gen) * p.std() * scale)
    meta = {**json.loads(extra[META_NAME]), "version": version}
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(module, str(dst), _extra_files={META_NAME: json.dumps(meta, sort_keys=True)})
    return dst
