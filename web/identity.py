"""Who is asking: a server-issued learner identity in a signed session cookie, and the learner's own data.

The first page view (or the first chat or Socket.IO call) issues ``w-<random hex>`` into Flask's session:
a cookie signed with INKBUS_SECRET_KEY (HttpOnly, SameSite=Lax), so a caller can present only an identity
the edge gave it. Nothing a client types names a learner (docs/TUTORING.md, "Privacy model").
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta

from flask import Blueprint, current_app, jsonify, session
from sqlalchemy.exc import SQLAlchemyError

from foundation.settings import Settings
from tutor.store import LEARNER
from web.errors import error_response

log = logging.getLogger("inkbus.identity")
bp = Blueprint("identity", __name__)


def signing_key(settings: Settings) -> str:
    """INKBUS_SECRET_KEY; else the key in INKBUS_SECRET_KEY_FILE, made on first use, so a restart does not turn
    every learner into a stranger; else (unwritable) a key for this process only."""
    key = settings.secret_key.get_secret_value()
    if key:
        return key
    path = settings.secret_key_file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never clobber a key another process made
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    except FileExistsError:
        pass
    except OSError as exc:
        log.warning("no INKBUS_SECRET_KEY and %s is not writable (%s): identities last until a restart", path, exc)
        return secrets.token_hex(32)
    key = path.read_text().strip()
    return key if len(key) >= 32 else secrets.token_hex(32)


def init_identity(app, settings: Settings) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="inkbus_id",
        SESSION_COOKIE_HTTPONLY=True,  # page scripts never see it
        SESSION_COOKIE_SAMESITE="Lax",  # other sites' POSTs do not carry it
        SESSION_COOKIE_SECURE=settings.identity_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.identity_days),
        # Set-Cookie only when an identity is issued or renewed (a page view), never on static files or API
        # answers a shared cache might keep and hand to someone else.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.register_blueprint(bp)


def current_learner(renew: bool = False) -> str:
    """The caller's learner id, issued now if the request carries none (works in Socket.IO handlers too).
    ``renew``: send the cookie again so its lifetime restarts (the page view does)."""
    learner = session.get("learner")
    if isinstance(learner, str) and LEARNER.fullmatch(learner):
        session.modified = session.modified or renew
        return learner
    learner = "w-" + secrets.token_hex(8)
    session["learner"] = learner
    session.permanent = True
    return learner


def _on_my_data(action):
    """``action(store, learner)`` for the caller, or a 503 ``store_unavailable`` response."""
    store = current_app.extensions.get("inkbus.store")
    try:
        if store is not None:
            return action(store, current_learner()), None
    except SQLAlchemyError:
        pass
    return None, error_response(503, "store_unavailable", "the progress store is not available right now")


@bp.get("/api/v1/me/data")
def my_data():
    """Everything stored about the caller, as a JSON download."""
    data, problem = _on_my_data(lambda store, me: store.export(me))
    if problem:
        return problem
    res = jsonify(data)
    res.headers["Content-Disposition"] = 'attachment; filename="inkbus-my-data.json"'
    res.headers["Cache-Control"] = "no-store"
    return res


@bp.delete("/api/v1/me/data")
def forget_me():
    """Erase the caller's attempts, corrections and account links."""
    deleted, problem = _on_my_data(lambda store, me: store.forget(me))
    return problem or jsonify({"deleted": deleted})
