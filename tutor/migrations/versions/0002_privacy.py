"""Privacy: one correction per attempt, chat account links and their one-time codes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Repeated corrections of one attempt: the newest label stands, the others go (they were duplicates).
    op.execute(
        "DELETE FROM corrections WHERE attempt_id IS NOT NULL AND id NOT IN "
        "(SELECT MAX(id) FROM corrections WHERE attempt_id IS NOT NULL GROUP BY attempt_id)"
    )
    op.create_index("ix_corrections_attempt_id", "corrections", ["attempt_id"], unique=True)
    op.create_index("ix_corrections_created_at", "corrections", ["created_at"])
    op.create_table(
        "links",
        sa.Column("account", sa.String(160), primary_key=True),
        sa.Column("learner", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_links_learner", "links", ["learner"])
    op.create_table(
        "link_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("learner", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_link_codes_learner", "link_codes", ["learner"])
    op.create_index("ix_link_codes_expires_at", "link_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_table("link_codes")
    op.drop_table("links")
    op.drop_index("ix_corrections_created_at", "corrections")
    op.drop_index("ix_corrections_attempt_id", "corrections")
