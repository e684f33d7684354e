"""Learner progress: attempts and corrections.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.String(128), nullable=False, unique=True),
        sa.Column("learner", sa.String(64), nullable=False),
        sa.Column("target", sa.String(1), nullable=False),
        sa.Column("predicted", sa.String(1), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("correct", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("ink", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_attempts_learner", "attempts", ["learner"])
    op.create_index("ix_attempts_created_at", "attempts", ["created_at"])
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("attempts.id", ondelete="SET NULL"), nullable=True),
        sa.Column("learner", sa.String(64), nullable=False),
        sa.Column("label", sa.String(1), nullable=False),
        sa.Column("ink", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_corrections_learner", "corrections", ["learner"])


def downgrade() -> None:
    op.drop_table("corrections")
    op.drop_table("attempts")
