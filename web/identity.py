"""Who is asking: a server-issued learner identity in a signed session cookie, and the learner's own data.

The first page view (or the first chat or Socket.IO call) issues ``w-<random hex>`` into Flask's session:
a cookie signed with INKBUS_SECRET_KEY (HttpOnly, SameSite=Lax), so a caller can present only an identity
the edge gave it. Nothing a client types names a learner (docs/TUTORING.md, "Privacy model").
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Blueprint, current_app, jsonify, session
from sqlalchemy.exc import SQLAlchemyError

from inkbus.settings import Settings
from tutor.store import LEARNER
from web.errors import error_response

bp = Blueprint("identity", __name__)


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
