"""The Alembic migrations produce exactly the ORM's schema (SPEC §7), on every backend:
autogenerate, comparing a freshly migrated database with ``Base.metadata``, finds
nothing to change.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from spurline.store.db import Database
from spurline.store.orm import Base


@pytest.fixture
def migrated(db: Database) -> Database:
    """A fresh database of ``backend`` with every migration applied."""
    return db


def test_migrations_match_the_orm(migrated: Database) -> None:
    with migrated.write_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_every_table_and_index_exists(migrated: Database) -> None:
    inspector = inspect(migrated.read_engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    indexes = {i["name"] for t in tables for i in inspector.get_indexes(t)}
    assert {
        "ix_runs_start",
        "ix_runs_workflow_start",
        "ix_runs_parent_seq",
        "ix_runs_status_start",
        "ix_tasks_run_position",
    } <= indexes


def test_upgrade_twice_changes_nothing(migrated: Database) -> None:
    before = inspect(migrated.read_engine).get_table_names()
    migrated.upgrade()
    assert inspect(migrated.read_engine).get_table_names() == before


def test_the_comparison_would_notice_a_difference(migrated: Database) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    changed = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    Table("runs", changed, Column("extra", Integer), extend_existing=True)
    with migrated.write_engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), changed)
    assert [(d[0], d[3].name) for d in diffs] == [("add_column", "extra")]
