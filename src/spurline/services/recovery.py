"""Leases and recovery: keep this process's runs leased, take over the runs of dead
processes, and stop local executions of runs canceled elsewhere (see
docs/architecture.md#leases-and-recovery). A process on the same host and home as a
dead one takes its runs over at once; one shutting down hands its runs over
(docs/reliability.md#clean-shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from spurline.engine.clock import now
from spurline.engine.runs import Executor
from spurline.services import metrics
from spurline.services._store import LeaseHolder, Store, log_loop_error
from spurline.services.process_slot import ProcessSlot
from spurline.store import leases, transient

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews, recovers and watches runs for one process.

    Args:
        store: async database access.
        executor: where this process executes runs.
        lease: this process as a lease owner.
        control_poll_s: seconds between checks for runs canceled elsewhere; also the
            longest the orphan watch sleeps, so a released lease is taken over that fast.
        slot: this process's slot (:class:`~spurline.services.process_slot.ProcessSlot`), which
            tells dead owners on this host and home; None: leases only expire.

    Attributes:
        accepting: False once the process shuts down: it takes no run over any more.
    """

    def __init__(
        self,
        store: Store,
        executor: Executor,
        lease: LeaseHolder,
        control_poll_s: float,
        slot: ProcessSlot | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.lease = lease
        self.control_poll_s = control_poll_s
        self.slot = slot
        self.accepting = True

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
        """Take over PENDING/RUNNING runs whose owner is known dead (on this host and
        home: see :mod:`spurline.services.process_slot`) or whose lease expired, and resume them.

        Returns the ids of the runs this process took over (none once it shuts down).
        """
        if not self.accepting:
            return []
        owner, lease_s = self.lease.owner, self.lease_s
        taken: list[str] = []
        if self.slot is not None:
            # owners read before the slots are checked (ProcessSlot.dead)
            owners = await self.store.read(lambda c: leases.active_owners(c, owner))
            dead = self.slot.dead(owners)
            if dead:
                # a dead owner is known dead whatever the store did meanwhile: no wait
                taken = await self.store.write(
                    partial(
                        leases.take_over_from, dead=dead, owner=owner, at=now(), lease_s=lease_s
                    )
                )
                for run_id in taken:
                    log.info("taking over the run (its process is dead)", extra={"run_id": run_id})
        take = partial(leases.take_over_expired, owner=owner, at=now(), lease_s=lease_s)
        expired = await self.store.write(lambda c: take(c) if self.store_settled() else [])
        for run_id in expired:
            log.info("taking over the run (its lease expired)", extra={"run_id": run_id})
        taken += expired
        metrics.LEASE_TAKEOVERS.inc(len(taken))
        for run_id in taken:
            await self.executor.submit(run_id)
        return taken

    async def release(self) -> list[str]:
        """End this process's leases on the runs still active, so other processes take
        them over at once (docs/reliability.md#clean-shutdown); returns their ids."""
        released = await self.store.write(partial(leases.release, owner=self.lease.owner, at=now()))
        for run_id in released:
            log.info("lease released for another process to take over", extra={"run_id": run_id})
        return released

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
        """Take over runs right when another process's lease runs out or is released,
        and every half lease in any case (queued leases, dead owners on this host), forever.
        """
        loop = asyncio.get_running_loop()
        full_at = loop.time() + self.lease_s / 2
        while True:
            try:
                wait = await self.until_next_expiry()
                if wait > 0 and loop.time() < full_at:
                    await asyncio.sleep(min(wait, full_at - loop.time()))
                    continue
                full_at = loop.time() + self.lease_s / 2
                if not await self.recover():
                    # a lapsed lease nobody could claim (raced away): no busy loop
                    await asyncio.sleep(min(self.control_poll_s, self.lease_s / 2))
            except Exception:
                log_loop_error(log, "orphan recovery failed")
                await asyncio.sleep(self.lease_s / 2)

    async def until_next_expiry(self) -> float:
        """Seconds to sleep before looking for orphans again: until the first lease of
        another process runs out (so a dead process's runs are taken over right when
        their leases expire; 0 when one already has), at most ``control_poll_s`` (a
        lease released early is seen that fast) and half a lease.
        """
        cap = min(self.lease_s / 2, self.control_poll_s)
        nxt = await self.store.read(lambda c: leases.next_expiry(c, self.lease.owner))
        if nxt is None:
            return cap
        return min(max((nxt - now()).total_seconds() + 0.05, 0.0), cap)

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
