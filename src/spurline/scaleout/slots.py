"""Execution slots of a worker process (docs/reliability.md#no-starvation).

A worker executes at most ``--concurrency`` runs at once: each run doing work here
holds one slot. A run that waits on other runs (a batch on its rows, a ForLoopNode on
its iterations, a SubworkflowNode on its child) gives its slot back for as long as it
waits, and the Celery task that started it returns, freeing the pool thread for the
children. The run itself stays on the worker's event loop; when its last wait ends
it takes a slot again before it goes on. A slot is therefore only ever held by a run
that is doing work, which always ends or starts waiting, so children get slots at
any nesting depth and with any number of parents waiting at once.

The run's slot travels in a context variable: the run's asyncio task and every task
it starts (its nodes, its child waiters) inherit it, so the executor's ``wait`` knows
which run waits without the engine or the services passing it along.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token

_CURRENT: ContextVar[RunSlot | None] = ContextVar("spurline_run_slot", default=None)


class Slots:
    """The slots of one worker process.

    Args:
        size: runs doing work at once (``spurline worker --concurrency``); None for
            no bound (a process whose Celery pool alone bounds it).
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self._free = asyncio.Semaphore(size) if size is not None else None

    async def take(self) -> RunSlot:
        """A held slot for a run about to execute here; waits while every slot is held."""
        if self._free is not None:
            await self._free.acquire()
        return RunSlot(self)

    def _give(self) -> None:
        if self._free is not None:
            self._free.release()

    async def _retake(self) -> None:
        if self._free is not None:
            await self._free.acquire()


class RunSlot:
    """One run's hold on a slot of :class:`Slots`.

    Attributes:
        parked: set the first time the run gives its slot back to wait on other runs;
            the worker task that started the run returns then.
    """

    def __init__(self, slots: Slots) -> None:
        self.slots = slots
        self.held = True
        self.parked = asyncio.Event()
        self._waits = 0

    def bind(self) -> Token[RunSlot | None]:
        """Make this the slot of tasks created from the current context from now on."""
        return _CURRENT.set(self)

    @staticmethod
    def unbind(token: Token[RunSlot | None]) -> None:
        """Undo :meth:`bind`."""
        _CURRENT.reset(token)

    def end(self) -> None:
        """The run stopped executing here: give the slot back if it holds one."""
        if self.held:
            self.held = False
            self.slots._give()

    def _begin_wait(self) -> None:
        self._waits += 1
        if self.held:
            self.held = False
            self.slots._give()
            self.parked.set()

    async def _end_wait(self) -> None:
        self._waits -= 1
        if self._waits or self.held:
            return
        await self.slots._retake()
        if self._waits or self.held:
            # another wait began (or another waiter took a slot) meanwhile
            self.slots._give()
            return
        self.held = True


@asynccontextmanager
async def waiting_on_runs() -> AsyncIterator[None]:
    """Give the current run's slot back while the block waits on other runs.

    Outside a run executing on a worker (an API process waiting for a run's end) it
    does nothing. When the block ends normally the run takes a slot again, waiting
    for one to be free; when it is canceled (the run is being stopped) it does not.
    """
    slot = _CURRENT.get()
    if slot is None:
        yield
        return
    slot._begin_wait()
    canceled = False
    try:
        yield
    except asyncio.CancelledError:
        canceled = True
        raise
    finally:
        if canceled:
            slot._waits -= 1
        else:
            await slot._end_wait()
