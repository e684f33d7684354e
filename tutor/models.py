"""Tables of the learner progress store. Change them only together with a new Alembic revision."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Attempt(Base):
    """One graded practice drawing."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(128), unique=True)  # redelivered predictions record once
    learner: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(1))
    predicted: Mapped[str] = mapped_column(String(1))
    confidence: Mapped[float] = mapped_column(Float)
    correct: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    model: Mapped[str] = mapped_column(String(64), default="")
    ink: Mapped[dict] = mapped_column(JSON)  # the project's ink format: {"strokes": [...]}
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Correction(Base):
    """Labelled ink: "that was a q". Exported as training data by ``inkbus export-corrections``."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One correction per attempt: a second one replaces the label (unique; NULLs, from purged attempts, repeat).
    attempt_id: Mapped[int | None] = mapped_column(
        ForeignKey("attempts.id", ondelete="SET NULL"), nullable=True, unique=True, index=True
    )
    learner: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(1))
    ink: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Link(Base):
    """A chat platform account (``slack:T1:U1``, ``discord:42``) acting as a web learner, bound by a one-time code."""

    __tablename__ = "links"

    account: Mapped[str] = mapped_column(String(160), primary_key=True)
    learner: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LinkCode(Base):
    """A pending link: only the code's SHA-256 is kept; it is deleted when used or expired."""

    __tablename__ = "link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    learner: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
