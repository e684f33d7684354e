"""Alembic environment: the URL comes from ``Settings`` (or the caller's connection), never from alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tutor.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # tutor.store.migrate passes its own connection
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from foundation.settings import Settings

    engine = create_engine(Settings().resolved_database_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
