"""The learner progress store: attempts, streaks, stats and corrections, on SQLite or PostgreSQL.

One ``Store`` per process; its methods open a short session each, so it is safe to share between threads.
``open_store(settings)`` migrates the database to the newest Alembic revision first.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from foundation.settings import Settings
from tutor.models import Attempt, Correction, Link, LinkCode, utcnow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no O/0, I/1/L or U: nothing to misread when typing it
CODE_LENGTH = 8
# A learner id: the edge issues ``w-<hex>``; chat accounts without a link are ``slack-T1-U1``, ``discord-42``.
# ``fullmatch`` only: ``$`` would accept a trailing newline and make ``ann\n`` a second learner.
LEARNER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
ATTEMPT_FIELDS = ("id", "job_id", "target", "predicted", "confidence", "correct", "latency_ms", "model", "ink",
                  "created_at")  # fmt: skip
CORRECTION_FIELDS = ("id", "attempt_id", "label", "ink", "created_at")


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    memory = url in ("sqlite://", "sqlite:///:memory:")
    if not memory:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        # The edge, the feedback engine's thread and the bots share one file: wait for locks, any thread.
        connect_args={"check_same_thread": False, "timeout": 15},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def open_store(settings: Settings, url: str | None = None) -> Store:
    engine = make_engine(url or settings.resolved_database_url())
    migrate(engine)
    return Store(engine)


def _code_hash(code: str) -> str:
    """Codes are stored hashed and compared case- and separator-blind (``abcd-efgh`` is ``ABCDEFGH``)."""
    canonical = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(canonical.encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; every stored time is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _row(obj, fields: tuple[str, ...]) -> dict:
    out = {f: getattr(obj, f) for f in fields}
    out["created_at"] = _aware(out["created_at"]).isoformat()
    return out


def _streak(results: list[bool]) -> int:
    """Correct answers in a row at the start of ``results`` (newest first)."""
    n = 0
    for ok in results:
        if not ok:
            break
        n += 1
    return n


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def _results(self, s: Session, learner: str, limit: int = 500) -> list[bool]:
        q = select(Attempt.correct).where(Attempt.learner == learner).order_by(Attempt.id.desc()).limit(limit)
        return list(s.scalars(q))

    # -- attempts
    def record_attempt(
        self,
        *,
        job_id: str,
        learner: str,
        target: str,
        predicted: str,
        confidence: float,
        correct: bool,
        ink: dict,
        latency_ms: float | None = None,
        model: str = "",
    ) -> tuple[int, int]:
        """Store one attempt (once per job id) and return (attempt id, streak after it)."""
        row = Attempt(
            job_id=job_id,
            learner=learner,
            target=target,
            predicted=predicted,
            confidence=confidence,
            correct=correct,
            ink=ink,
            latency_ms=latency_ms,
            model=model[:64],
        )
        with self._session() as s:
            try:
                s.add(row)
                s.commit()
            except IntegrityError:  # a redelivered prediction: the first recording stands
                s.rollback()
                row = s.scalars(select(Attempt).where(Attempt.job_id == job_id)).one()
            return row.id, _streak(self._results(s, learner))

    def streak(self, learner: str) -> int:
        with self._session() as s:
            return _streak(self._results(s, learner))

    def stats(self, learner: str, days: int = 7) -> dict:
        """Totals, streaks, the characters most often missed, and accuracy per day for the last ``days``."""
        with self._session() as s:
            results = self._results(s, learner, limit=10_000)
            total, right = len(results), sum(results)
            best = cur = 0
            for ok in reversed(results):
                cur = cur + 1 if ok else 0
                best = max(best, cur)
            missed = s.execute(
                select(Attempt.target, func.count())
                .where(Attempt.learner == learner, Attempt.correct.is_(False))
                .group_by(Attempt.target)
                .order_by(func.count().desc(), Attempt.target)
                .limit(3)
            ).all()
            since = datetime.now(UTC) - timedelta(days=days)
            rows = s.execute(
                select(Attempt.created_at, Attempt.correct).where(
                    Attempt.learner == learner, Attempt.created_at >= since
                )
            ).all()
        per_day: dict[str, list[int]] = {}
        for at, ok in rows:
            day = per_day.setdefault(at.date().isoformat(), [0, 0])
            day[0] += 1
            day[1] += int(ok)
        return {
            "learner": learner,
            "attempts": total,
            "correct": right,
            "accuracy": round(right / total, 3) if total else None,
            "streak": _streak(results),
            "best_streak": best,
            "most_missed": [{"char": c, "misses": n} for c, n in missed],
            "days": [{"day": d, "attempts": a, "correct": c} for d, (a, c) in sorted(per_day.items())],
        }

    def latest_attempt(self, learner: str) -> Attempt | None:
        with self._session() as s:
            q = select(Attempt).where(Attempt.learner == learner).order_by(Attempt.id.desc()).limit(1)
            return s.scalars(q).first()

    # -- corrections: one per attempt, a second one replaces the label
    def correct_latest(self, learner: str, label: str) -> tuple[int, Attempt] | None:
        """ "That was a q": label the learner's own latest attempt. None if they have no attempt."""
        attempt = self.latest_attempt(learner)
        if attempt is None:
            return None
        with self._session() as s:
            for _ in range(2):  # a concurrent first correction wins the insert; then this one updates it
                row = s.scalars(select(Correction).where(Correction.attempt_id == attempt.id)).first()
                if row is None:
                    row = Correction(learner=learner, label=label, ink=attempt.ink, attempt_id=attempt.id)
                    s.add(row)
                else:
                    row.label, row.created_at = label, utcnow()
                try:
                    s.commit()
                    return row.id, attempt
                except IntegrityError:
                    s.rollback()
        raise RuntimeError(f"could not record the correction of attempt {attempt.id}")

    def corrections(self) -> Iterator[dict]:
        """Training rows in the shape of ``unipen/ink.jsonl.gz``: {"label", "writer", "strokes"}."""
        with self._session() as s:
            for row in s.scalars(select(Correction).order_by(Correction.id)).yield_per(500):
                yield {"label": row.label, "writer": f"inkbus/{row.learner}", "strokes": row.ink["strokes"]}

    # -- a learner's own data (docs/TUTORING.md, "Privacy model")
    def export(self, learner: str) -> dict:
        """Everything stored about one learner, as JSON-ready data."""
        with self._session() as s:
            attempts = s.scalars(select(Attempt).where(Attempt.learner == learner).order_by(Attempt.id)).all()
            fixes = s.scalars(select(Correction).where(Correction.learner == learner).order_by(Correction.id)).all()
            links = s.scalars(select(Link).where(Link.learner == learner).order_by(Link.account)).all()
        return {
            "learner": learner,
            "attempts": [_row(a, ATTEMPT_FIELDS) for a in attempts],
            "corrections": [_row(c, CORRECTION_FIELDS) for c in fixes],
            "linked_accounts": [{"account": x.account, "created_at": x.created_at.isoformat()} for x in links],
        }

    def forget(self, learner: str) -> int:
        """Delete a learner's attempts, corrections, account links and codes (right to erasure); rows removed."""
        with self._session() as s:
            n = 0
            for model in (Correction, Attempt, Link, LinkCode):
                n += s.execute(delete(model).where(model.learner == learner)).rowcount
            s.commit()
            return n

    def purge(self, days: int, now: datetime | None = None) -> dict:
        """Retention: delete attempts and corrections older than ``days`` and expired link codes."""
        now = now or utcnow()
        cutoff = now - timedelta(days=days)
        with self._session() as s:
            gone = {
                "corrections": s.execute(delete(Correction).where(Correction.created_at < cutoff)).rowcount,
                "attempts": s.execute(delete(Attempt).where(Attempt.created_at < cutoff)).rowcount,
                "link_codes": s.execute(delete(LinkCode).where(LinkCode.expires_at <= now)).rowcount,
            }
            s.commit()
        return gone

    # -- chat accounts linked to a web learner by a one-time code
    def new_link_code(self, learner: str, ttl_s: int) -> str:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        with self._session() as s:
            s.execute(delete(LinkCode).where(LinkCode.learner == learner))  # a new code replaces any pending one
            s.add(LinkCode(code_hash=_code_hash(code), learner=learner, expires_at=utcnow() + timedelta(seconds=ttl_s)))
            s.commit()
        return code

    def redeem_link_code(self, code: str, account: str) -> str | None:
        """Bind ``account`` to the code's learner; the code is used up. None if unknown, used or expired."""
        h = _code_hash(code)
        with self._session() as s:
            pending = s.scalars(select(LinkCode).where(LinkCode.code_hash == h)).first()
            if pending is None:
                return None
            # Only the session whose delete removed the row may use the code: single use under concurrency.
            if s.execute(delete(LinkCode).where(LinkCode.code_hash == h)).rowcount != 1:
                s.rollback()
                return None
            if _aware(pending.expires_at) <= utcnow():
                s.commit()  # an expired code is gone either way
                return None
            s.execute(delete(Link).where(Link.account == account))
            s.add(Link(account=account, learner=pending.learner))
            s.commit()
            return pending.learner

    def linked_learner(self, account: str) -> str | None:
        with self._session() as s:
            return s.scalar(select(Link.learner).where(Link.account == account))

    def unlink(self, account: str) -> bool:
        with self._session() as s:
            n = s.execute(delete(Link).where(Link.account == account)).rowcount
            s.commit()
            return n > 0

    # -- admin
    def counts(self) -> dict:
        with self._session() as s:
            return {
                "learners": s.scalar(select(func.count(func.distinct(Attempt.learner)))) or 0,
                "attempts": s.scalar(select(func.count()).select_from(Attempt)) or 0,
                "corrections": s.scalar(select(func.count()).select_from(Correction)) or 0,
            }
