"""Leases and recovery: keep this process's runs leased, take over the runs of dead
processes, and stop local executions of runs canceled elsewhere (see
docs/architecture.md#leases-and-recovery).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from spurline.engine.clock import now
from spurline.engine.runs import Executor
from spurline.services import metrics
from spurline.services._store import LeaseHolder, Store, log_loop_error
from spurline.store import leases, transient

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews, recovers and watches runs for one process.

    Args:
        store: async database access.
        executor: where this process executes runs.
        lease: this process as a lease owner.
        control_poll_s: seconds between checks for runs canceled elsewhere.
    """

    def __init__(
        self, store: Store, executor: Executor, lease: LeaseHolder, control_poll_s: float
    ) -> None:
        self.store = store
        self.executor = executor
        self.lease = lease
        self.control_poll_s = control_poll_s

    def store_settled(self) -> bool:
        """Whether the store has answered for a lease (plus the retry backoff's longest
        wait) since its last transient error. Until then no lease is taken over: the
        leases of every process lapsed during the outage and their owners, still
        executing, renew them within a third of a lease
        (docs/reliability.md#transient-store-errors)."""
        return transient.quiet_for(self.lease_s + transient.BACKOFF_MAX_S)

    @property
    def lease_s(self) -> float:
        """Lease length in seconds."""
        return self.lease.lease_s

    async def recover(self) -> list[str]:
        """Take over PENDING/RUNNING runs whose lease expired and resume them.

        Returns the ids of the runs this process took over.
        """
        owner, lease_s = self.lease.owner, self.lease_s
        take = partial(leases.take_over_expired, owner=owner, at=now(), lease_s=lease_s)
        taken = await self.store.write(lambda c: take(c) if self.store_settled() else [])
        metrics.LEASE_TAKEOVERS.inc(len(taken))
        for run_id in taken:
            log.info("taking over the run (its lease expired)", extra={"run_id": run_id})
            await self.executor.submit(run_id)
        return taken

    async def heartbeat(self) -> None:
        """Renew the leases of the runs executing here every third of a lease, forever."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.store.write(
                    partial(
                        leases.renew,
                        owner=self.lease.owner,
                        run_ids=self.executor.active(),
                        at=now(),
                        lease_s=self.lease_s,
                    )
                )
            except Exception:  # the next beat tries again; a lost lease is taken over
                log_loop_error(log, "lease renewal failed")

    async def watch_orphans(self) -> None:
        """Take over runs right when another process's lease runs out, forever."""
        while True:
            try:
                await asyncio.sleep(await self.until_next_expiry())
                await self.recover()
            except Exception:
                log_loop_error(log, "orphan recovery failed")
                await asyncio.sleep(self.lease_s / 2)

    async def until_next_expiry(self) -> float:
        """Seconds to sleep before looking for orphans again: until the first lease of
        another process runs out (so a dead process's runs are taken over right when
        their leases expire), at most half a lease.
        """
        cap = self.lease_s / 2
        nxt = await self.store.read(lambda c: leases.next_expiry(c, self.lease.owner))
        if nxt is None:
            return cap
        return min(max((nxt - now()).total_seconds() + 0.05, 0.05), cap)

    async def watch_runs(self) -> None:
        """Call :meth:`stop_lost_runs` every ``control_poll_s`` seconds, forever."""
        while True:
            await asyncio.sleep(self.control_poll_s)
            try:
                await self.stop_lost_runs()
            except Exception:
                log_loop_error(log, "checking the runs executing here failed")

    async def stop_lost_runs(self) -> list[str]:
        """Interrupt local executions of runs canceled (or taken over) by another process.

        Returns the ids interrupted. Runs every ``SPURLINE_CONTROL_POLL_S`` seconds, so a
        cancel made through another server or the CLI stops the nodes here that fast.
        """
        active = self.executor.active()
        if not active:
            return []
        owner = self.lease.owner
        lost = await self.store.read(lambda c: leases.executing_elsewhere(c, owner, active))
        for run_id in lost:
            log.info(
                "run canceled or taken over elsewhere; interrupting it", extra={"run_id": run_id}
            )
            await self.executor.interrupt(run_id)
        return lost
