"""Making a registered version the serving model: move the registry's alias, tell every worker
(``model.promoted`` on the control exchange), and tell operators (``alert.ops``, relayed by the bots)."""

from __future__ import annotations

import logging
from dataclasses import asdict

from kombu import Producer

from bus.connection import connect
from bus.schemas import AlertEvent, ModelPromoted
from bus.topology import (
    ALERT_SOURCE,
    CONTROL_EXCHANGE,
    EVENTS_EXCHANGE,
    RK_MODEL_PROMOTED,
    declare_topology,
    event_routing_key,
)
from foundation.settings import Settings
from ml.registry import Registry

log = logging.getLogger("inkbus.registry")


def announce(settings: Settings, note: ModelPromoted | None, alert: AlertEvent | None, url: str | None = None) -> None:
    """Publish a promotion notice and/or an operators' alert, with publisher confirms."""
    conn = connect(settings.broker, url, confirm=True)
    try:
        ch = conn.channel()
        declare_topology(ch, settings.queues)
        if note is not None:
            Producer(ch, exchange=CONTROL_EXCHANGE, serializer="json").publish(
                note.model_dump(mode="json"), routing_key=RK_MODEL_PROMOTED
            )
        if alert is not None:
            Producer(ch, exchange=EVENTS_EXCHANGE, serializer="json").publish(
                alert.model_dump(mode="json"), routing_key=event_routing_key("alert", ALERT_SOURCE)
            )
    finally:
        conn.release()


def serve_version(
    settings: Settings,
    registry: Registry,
    version: str,
    *,
    reason: str,
    forced: bool = False,
    rollback: bool = False,
    by: str = "",
    url: str | None = None,
) -> ModelPromoted:
    """Point the serving alias at ``version`` and announce it. Rollback is the same with an older version."""
    before = registry.serving()
    serving = registry.set_serving(version, reason=reason, forced=forced, by=by, rollback=rollback)
    note = ModelPromoted(**asdict(serving), previous=before.version if before else None, rollback=rollback)
    what = "rolled back to" if rollback else ("force-promoted" if forced else "promoted")
    alert = AlertEvent(
        level="warning" if (forced or rollback) else "info",
        title=f"model {what} {version}" + (f" (was {before.version})" if before else ""),
        text=reason[:1000],
    )
    log.info("%s %s: %s", what, version, reason, extra={"forced": forced})
    announce(settings, note, alert, url)
    return note
