"""Store fixtures: a fresh, migrated database of each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import make_settings

from spurline.store.db import Database


@pytest.fixture
def db(tmp_path: Path, backend: str) -> Iterator[Database]:
    """A new database of ``backend`` with every migration applied; closed and dropped after."""
    settings, cleanup = make_settings(tmp_path, backend)
    database = Database(settings.resolved_database_url())
    try:
        database.upgrade()
        yield database
    finally:
        database.close()
        cleanup()
