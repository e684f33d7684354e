"""A small typed client of the HTTP API (docs/PROTOCOL.md, ``/api/docs``), on the standard library only.

    from inkbus.client import InkbusClient, InkbusError

    api = InkbusClient("http://127.0.0.1:8000")
    guess = api.recognize([[[0, 0], [0, 40]]], top=3)
    guess.top[0].label, guess.top[0].p

Every error answer is raised as ``InkbusError`` with the API's machine-readable ``code``. ``API_VERSION`` is the
version of the OpenAPI document this client was written against: the package's own, as the server reports it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from inkbus import __version__

API_VERSION = __version__
Point = list[float]
Stroke = list[Point]


class InkbusError(Exception):
    """An error answer (or no answer): ``status`` 0 means the server could not be reached."""

    def __init__(self, status: int, code: str, message: str, body: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body or {}


@dataclass(frozen=True)
class Label:
    label: str
    p: float


@dataclass(frozen=True)
class Prediction:
    job_id: str
    top: list[Label]
    model: str
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatReply:
    title: str
    text: str
    ok: bool
    fields: list[tuple[str, str]] = field(default_factory=list)
    code: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    broker: bool
    workers: int
    queued: int | None


class InkbusClient:
    def __init__(self, base_url: str, timeout_s: float = 15.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise InkbusError(0, "unreachable", f"{self.base_url}: {exc}") from exc
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if status in ok:
            return status, answer
        err = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(err, dict):
            raise InkbusError(status, str(err.get("code", "unknown")), str(err.get("message", "")), answer)
        raise InkbusError(status, "unexpected_answer", raw[:200].decode(errors="replace"))

    def recognize(self, strokes: list[Stroke], top: int | None = None) -> Prediction:
        """The most probable labels of one character drawn as ``strokes`` (lists of [x, y] or [x, y, t])."""
        path = "/api/v1/recognize" + (f"?top={int(top)}" if top is not None else "")
        _, body = self._call("POST", path, {"strokes": strokes})
        return Prediction(
            job_id=body["job_id"],
            top=[Label(t["label"], float(t["p"])) for t in body["top"]],
            model=body["model"],
            timings=dict(body.get("timings") or {}),
        )

    def chat(self, text: str, learner: str | None = None) -> ChatReply:
        """One chat command (``help``, ``practice A``, ``stats``...), answered by the bots' command core."""
        _, body = self._call("POST", "/api/v1/chat", {"text": text, **({"learner": learner} if learner else {})})
        r = body["reply"]
        return ChatReply(
            title=r["title"],
            text=r.get("text", ""),
            ok=bool(r.get("ok", True)),
            fields=[(f["name"], f["value"]) for f in r.get("fields", [])],
            code=r.get("code"),
            data=dict(r.get("data") or {}),
        )

    def health(self) -> bool:
        """The edge process is alive (``/healthz``)."""
        return self._call("GET", "/healthz")[1].get("status") == "ok"

    def ready(self) -> Readiness:
        """Broker reachable and a worker consuming (``/readyz``); not ready is an answer, not an error."""
        status, body = self._call("GET", "/readyz", ok=(200, 503))
        return Readiness(status == 200, bool(body.get("broker")), int(body.get("workers", 0)), body.get("queued"))

    def server_version(self) -> str:
        """The version of the OpenAPI document the server serves; compare with ``API_VERSION``."""
        return str(self._call("GET", "/api/v1/openapi.json")[1]["info"]["version"])
