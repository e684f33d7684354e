"""The feedback engine: consumes prediction (and error) events, publishes ``feedback`` (and ``alert``) events.

Runs as its own process (``inkbus feedback``) or as a background task of ``inkbus run``. Competing
engines share one durable queue (``inkbus.sub.feedback-engine``). A message is acked only after its
feedback is published, and attempts are recorded once per job id, so a redelivery changes nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from kombu import Consumer, Producer
from sqlalchemy.exc import SQLAlchemyError

from bus.consumer import ResilientConsumer, dead_letter_on_failure, drain
from bus.schemas import AlertEvent, FeedbackEvent
from bus.topology import ALERT_SOURCE, EVENTS_EXCHANGE, declare_topology, event_routing_key, feedback_engine_queue
from foundation.settings import Settings
from ml.ink import InkError, validate_ink
from tutor.chars import CHARSET
from tutor.grading import Thresholds, free_hint, grade_practice, judgement_from_top
from tutor.store import LEARNER, Store

log = logging.getLogger("inkbus.feedback")

Outgoing = list[tuple[str, dict]]  # (routing key, event body)


def _direct(fn, *args):
    return fn(*args)


def _latency_ms(body: dict) -> float | None:
    try:
        return round((float(body["produced_at"]) - float(body["created_at"])) * 1000, 3)
    except (KeyError, TypeError, ValueError):
        return None


class FeedbackEngine(ResilientConsumer):
    name = "feedback engine"

    def __init__(
        self, settings: Settings, store: Store | None, *, url: str | None = None, offload: Callable | None = None
    ):
        super().__init__(settings.broker, url)
        self.settings = settings
        self.store = store
        self.th = Thresholds(settings.feedback_low_confidence, settings.feedback_ambiguity_margin)
        # Under gevent, grading and database writes leave the event loop (``offload`` runs them on a thread).
        self.offload = offload or _direct
        self._purged_at = -math.inf

    def purge_if_due(self, now: float | None = None) -> dict | None:
        """Retention (INKBUS_RETENTION_DAYS): purge old attempts every ``retention_interval_s``; idempotent, so
        competing engines may all do it."""
        now = time.monotonic() if now is None else now
        days = self.settings.retention_days
        if self.store is None or days <= 0 or now - self._purged_at < self.settings.retention_interval_s:
            return None
        self._purged_at = now
        try:
            gone = self.offload(self.store.purge, days)
        except SQLAlchemyError as exc:
            log.error("retention purge failed (tried again in %.0f s): %s", self.settings.retention_interval_s, exc)
            return None
        log.info("retention purge: %s", gone)
        return gone

    # -- rules (no bus I/O: unit-tested directly)
    def handle(self, body: dict) -> Outgoing:
        if not isinstance(body, dict):
            return []
        if body.get("type") == "error":
            return self._alert(body)
        if body.get("type") != "prediction":
            return []
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        if meta.get("mode") == "practice":
            return self._practice(body, meta)
        if meta.get("mode") == "free" or meta.get("source") == "socket":
            return self._free(body, meta)
        return []  # HTTP answers, CLI batches: nobody to tutor

    def _event(self, body: dict, meta: dict, **fields) -> Outgoing:
        event = FeedbackEvent(
            job_id=body["job_id"],
            reply_to=body.get("reply_to"),
            model=str(body.get("model", "")),
            latency_ms=_latency_ms(body),
            meta={k: v for k, v in meta.items() if k != "ink"},  # the ink went to the store; don't echo it
            **fields,
        )
        return [(event_routing_key("feedback", event.reply_to), event.model_dump(mode="json"))]

    def _practice(self, body: dict, meta: dict) -> Outgoing:
        target = meta.get("target")
        if not isinstance(target, str) or target not in CHARSET:
            log.warning("practice job %s has no valid target: %r", body.get("job_id"), target)
            return []
        top = body.get("top") or []
        verdict = body.get("practice")
        if not isinstance(verdict, dict) or verdict.get("target") != target:
            # A prediction made without its target (an older edge): the same rule on the top labels alone.
            verdict = judgement_from_top(target, top)
        v = grade_practice(verdict, top, self.th)
        learner = meta.get("learner")
        learner = learner if isinstance(learner, str) and LEARNER.fullmatch(learner) else None
        attempt_id, streak = self._record(body, meta, learner, target, v)
        return self._event(
            body,
            meta,
            mode="practice",
            learner=learner,
            target=target,
            predicted=v.predicted,
            confidence=v.confidence,
            correct=v.correct,
            looked_like=v.looked_like,
            hint=v.hint,
            tip=v.tip,
            streak=streak,
            attempt_id=attempt_id,
            recorded=attempt_id is not None,
        )

    def _record(self, body: dict, meta: dict, learner: str | None, target: str, v) -> tuple[int | None, int]:
        """Store the attempt; (None, 0) when it cannot be: the grade still goes out, saying so."""
        if learner is None or self.store is None:
            log.warning("practice job %s graded, not recorded (no learner or no store)", body.get("job_id"))
            return None, 0
        try:
            validate_ink(meta.get("ink"))
            return self.store.record_attempt(
                job_id=body["job_id"],
                learner=learner,
                target=target,
                predicted=v.predicted or "?",
                confidence=v.confidence,
                correct=bool(v.correct),
                ink={"strokes": meta["ink"]["strokes"]},
                latency_ms=_latency_ms(body),
                model=str(body.get("model", "")),
            )
        except InkError:
            log.warning("practice job %s carried no valid ink: graded, not recorded", body.get("job_id"))
        except SQLAlchemyError as exc:  # the database is down: grading needs none
            log.error("progress store unavailable, practice job %s not recorded: %s", body.get("job_id"), exc)
        return None, 0

    def _free(self, body: dict, meta: dict) -> Outgoing:
        shape = body.get("shape") if isinstance(body.get("shape"), dict) else None
        v = free_hint(body.get("top") or [], self.th, shape)
        if v is None:
            return []
        return self._event(
            body, meta, mode="free", predicted=v.predicted, confidence=v.confidence, looked_like=v.looked_like,
            hint=v.hint, tip=v.tip,
        )  # fmt: skip

    def _alert(self, body: dict) -> Outgoing:
        if body.get("code") != "internal_error":
            return []  # bad ink is the learner's business, not an operator's
        alert = AlertEvent(level="error", title="A recognition batch failed", text=str(body.get("message", ""))[:500])
        return [(event_routing_key("alert", ALERT_SOURCE), alert.model_dump(mode="json"))]

    # -- bus (the reconnect loop is ResilientConsumer.run)
    def serve(self, conn) -> None:
        ch = conn.channel()
        declare_topology(ch, self.settings.queues)
        ch.basic_qos(0, 32, False)
        producer = Producer(ch, exchange=EVENTS_EXCHANGE, serializer="json")

        def on_message(body, message):
            # an event that cannot be answered (say, one whose feedback cannot be serialised) is dropped,
            # not redelivered forever
            with dead_letter_on_failure(conn, [message], "feedback"):
                try:
                    out = self.offload(self.handle, body)
                except Exception:  # a bug or a database outage must not wedge the queue
                    log.exception("feedback failed for job %s", body.get("job_id") if isinstance(body, dict) else None)
                    out = []
                for rk, event in out:
                    producer.publish(event, routing_key=rk)
                message.ack()

        with Consumer(
            ch,
            [feedback_engine_queue(self.settings.queues)],
            callbacks=[on_message],
            accept=["json"],
            on_decode_error=lambda m, e: m.reject(requeue=False),
        ):
            self.ready.set()
            log.info("feedback engine consuming")
            while not self.stopping:
                drain(conn, 0.5)
                self.purge_if_due()
