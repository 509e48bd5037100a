"""What every service is handed: async access to the store and this process's lease."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection

from spurline.engine.clock import now
from spurline.exceptions import StoreUnavailable
from spurline.store.control import Claim
from spurline.store.db import Database

T = TypeVar("T")


class Store:
    """The database seen from the event loop: reads on a worker thread, writes through
    the group-commit writer, so a coroutine never blocks on SQL.

    Args:
        db: the process's database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run a read query in a worker thread (the event loop never waits on the DB)."""
        return await asyncio.to_thread(self.db.read, fn)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run a write through the group-commit writer."""
        return await self.db.writer.arun(fn)


@dataclass(frozen=True)
class LeaseHolder:
    """This process as a lease owner (docs/architecture.md#leases-and-recovery).

    Attributes:
        owner: ``host:pid:id``, unique per process.
        lease_s: lease length in seconds (``SPURLINE_LEASE_S``).
    """

    owner: str
    lease_s: float

    def claim(self) -> Claim:
        """A claim on a run's lease starting now."""
        return Claim(self.owner, now(), self.lease_s)


def log_loop_error(logger: logging.Logger, message: str, *args: object) -> None:
    """Log the error a background loop is handling before it tries again: one line
    when the store is unavailable (an outage is expected, and every loop of every
    process would print the same traceback), the full traceback otherwise
    (docs/reliability.md#transient-store-errors)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, StoreUnavailable):
        logger.warning(message + ": %s", *args, exc)
    else:
        logger.exception(message, *args)
