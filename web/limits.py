"""Rate limits at the HTTP doors (recognize, chat and the learner's data, Slack, Discord), per client address.

Flask-Limiter counts in INKBUS_RATE_LIMIT_STORAGE_URL: in memory for one edge, Redis when several edges
share the load. A client over its limit gets 429 ``rate_limited`` with ``Retry-After``. If the counter store
is unreachable the edge counts in memory instead of refusing requests.
"""

from __future__ import annotations

import math
import time

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from foundation.settings import Settings
from web.errors import error_response

# Endpoint -> the setting with its limit. Socket.IO events have their own per-connection buckets (web/sockets.py).
DOORS = {
    "api.recognize": "rate_limit_recognize",
    "tutoring.chat": "rate_limit_chat",
    "identity.my_data": "rate_limit_chat",
    "identity.forget_me": "rate_limit_chat",
    "slack.slack_command": "rate_limit_chatbots",
    "discord.discord_interaction": "rate_limit_chatbots",
}


def _breach(limit) -> object:
    wait = max(1, math.ceil(limit.reset_at - time.time()))
    res, status = error_response(429, "rate_limited", f"too many requests ({limit.limit}): retry in {wait} s")
    res.status_code = status
    res.headers["Retry-After"] = str(wait)
    return res


def init_limits(app, settings: Settings) -> Limiter:
    """Call after every blueprint is registered: the doors' view functions are wrapped in place."""
    if settings.proxy_hops > 0:  # the client's address is the one the trusted proxies saw
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.rate_limit_storage_url,
        strategy="moving-window",
        key_prefix="inkbus",
        on_breach=_breach,  # type: ignore[arg-type]
        headers_enabled=False,  # Retry-After is set by _breach, whole seconds and never 0
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    for endpoint, setting in DOORS.items():
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = limiter.limit(getattr(settings, setting), scope=endpoint)(view)
    return limiter
