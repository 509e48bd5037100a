"""Alembic environment: runs migrations on the engine Spurline hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from spurline.store.orm import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(
    str(config.get_main_option("sqlalchemy.url"))
)

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Several processes may start at once on one database (API servers and
        # workers); the first to take this lock migrates, the others then find the
        # schema up to date. Released at commit.
        connection.execute(text("SELECT pg_advisory_xact_lock(7280417)"))
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
