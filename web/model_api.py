"""``GET /api/v1/model``: which model serves (version, classes, figures), and which versions answered lately.

The registry's serving alias says what should serve; the versions named by the predictions this edge
delivered say what did (during a live swap both appear, the old one fading out). Without a registry
entry the answer comes from the artifact at ``model_path``, read without torch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque

from flask import Blueprint, current_app, jsonify

from foundation.settings import Settings
from web.errors import error_response

bp = Blueprint("model", __name__)
log = logging.getLogger("inkbus.edge")
RECENT = 200  # predictions remembered for "recent"
CACHE_S = 5.0  # an object-store registry is not read on every request


class ModelView:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._recent: deque[str] = deque(maxlen=RECENT)
        self._cached: tuple[float, dict] | None = None
        self._lock = threading.Lock()

    def on_event(self, body: dict) -> None:
        """A bridge listener: remember the model of every prediction the edge delivers."""
        if body.get("type") == "prediction" and body.get("model"):
            self._recent.append(body["model"])

    def describe(self) -> dict:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > CACHE_S:
                self._cached = (time.monotonic(), self._load())
            out = dict(self._cached[1])
        out["recent"] = dict(Counter(self._recent))
        return out

    def _load(self) -> dict:
        from ml.registry import Registry, read_meta

        root = self.settings.registry_root()
        try:
            registry = Registry.open(root, self.settings.object_store_endpoint(root))
            alias = registry.alias()
            if alias is not None:
                entry = registry.entry(alias["version"])
                change = (alias.get("history") or [{}])[-1]
                figures = {k: f.get("candidate") for k, f in entry.get("figures", {}).items()}
                return {"version": entry["version"], "sha256": entry["sha256"], "classes": entry.get("classes", ""),
                        "figures": figures, "since": change.get("at"), "reason": change.get("reason"),
                        "previous": alias.get("previous"), "source": "registry"}  # fmt: skip
        except Exception as exc:  # a registry that cannot be read must not take the edge down
            log.warning("model registry %s unreadable: %s", root, exc)
        meta = read_meta(self.settings.model_path)
        last = (meta.get("history") or [{}])[-1]
        figures = {k: v for k, v in last.items() if k.startswith("val_")}
        return {"version": meta.get("version"), "classes": meta.get("classes", ""), "figures": figures,
                "source": "artifact"}  # fmt: skip


def register_model_api(app, bridge, settings: Settings) -> None:
    view = ModelView(settings)
    bridge.add_listener(view.on_event)
    app.extensions["inkbus.model_view"] = view
    app.register_blueprint(bp)


@bp.get("/api/v1/model")
def model():
    try:
        return jsonify(current_app.extensions["inkbus.model_view"].describe())
    except Exception as exc:  # no registry entry and no readable artifact
        return error_response(503, "model_unknown", f"cannot tell which model serves: {exc}")
