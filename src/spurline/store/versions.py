"""Workflow versions: lookups with a process-wide cache (versions never change)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from threading import Lock

from sqlalchemy import Connection, select

from spurline.engine.records import VersionRecord
from spurline.exceptions import NotFound
from spurline.store._rows import VERSION_COLS, version_record
from spurline.store.orm import VERSIONS


class VersionCache:
    """An LRU of immutable versions by id, shared by the threads of one process."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._items: OrderedDict[str, VersionRecord] = OrderedDict()
        self._lock = Lock()

    def get_many(self, conn: Connection, ids: Iterable[str | None]) -> dict[str, VersionRecord]:
        """Versions by id, reading only the ones not cached (one query)."""
        wanted = {i for i in ids if i}
        found: dict[str, VersionRecord] = {}
        with self._lock:
            for vid in wanted:
                if vid in self._items:
                    found[vid] = self._items[vid]
                    self._items.move_to_end(vid)
        missing = wanted - found.keys()
        if missing:
            rows = conn.execute(select(*VERSION_COLS).where(VERSIONS.c.id.in_(missing))).all()
            with self._lock:
                for row in rows:
                    rec = version_record(row)
                    found[rec.id] = rec
                    self._items[rec.id] = rec
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return found

    def get(self, conn: Connection, version_id: str) -> VersionRecord:
        """One version; NotFound when absent."""
        found = self.get_many(conn, [version_id])
        if version_id not in found:
            raise NotFound("Workflow version", version_id)
        return found[version_id]

    def forget(self, version_ids: Iterable[str]) -> None:
        """Drop deleted versions."""
        with self._lock:
            for vid in version_ids:
                self._items.pop(vid, None)


versions = VersionCache()
