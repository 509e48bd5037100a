"""The worker process: one asyncio event loop, in its own thread, hosting a Runtime.

Celery's ``threads`` pool calls the task in one of ``--concurrency`` threads; the
task hands the run id to this loop and blocks until the run stops here, or until it
waits on other runs: then it gives its slot back and the task returns, so the
thread can take the children it waits for (docs/reliability.md#no-starvation). So a
worker process executes up to ``concurrency`` runs at once on one event loop with
one store connection pool, one group-commit writer, one lease heartbeat and one
PythonFuncNode process pool, exactly as an API process does in embedded mode.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from spurline.engine.states import RunStatus
from spurline.runtime import Runtime
from spurline.scaleout.executor import CeleryExecutor
from spurline.scaleout.slots import Slots
from spurline.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class WorkerHost:
    """A Runtime on a private event loop, fed run ids from Celery task threads.

    Starting it applies migrations, starts the lease heartbeat, takes over orphaned
    runs (re-enqueueing them) and starts the Runtime's run watch, which stops runs
    canceled or taken over elsewhere.

    Args:
        settings: the process settings; the executor is forced to ``celery`` since
            runs this worker starts (child runs, takeovers) must go through the queue.
        concurrency: runs doing work at once (``--concurrency``); None for no bound
            but the Celery pool's.
    """

    def __init__(self, settings: Settings, concurrency: int | None = None) -> None:
        self.settings = settings.model_copy(update={"executor": "celery"})
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="spurline-worker-loop", daemon=True
        )
        self._thread.start()
        self._closing = False
        self._draining = False
        self._close_lock = threading.Lock()
        self._running: set[concurrent.futures.Future[RunStatus | None]] = set()
        self.runtime: Runtime = self._call(self._open())
        self._executor(self.runtime).slots = Slots(concurrency)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _open(self) -> Runtime:
        rt = Runtime(self.settings)
        await rt.start(recover=True)
        return rt

    @staticmethod
    def _executor(rt: Runtime) -> CeleryExecutor:
        assert isinstance(rt.executor, CeleryExecutor)
        return rt.executor

    def execute(self, run_id: str) -> str | None:
        """Execute a run received from the queue (from a Celery pool thread); blocks
        until it stops here or waits on other runs without a slot (then ``RUNNING``).
        Returns its status, or None when it was not claimed or the worker is shutting
        down (the run's lease then lapses and it is taken over).
        """
        if self._closing:
            return None
        run_here = self._executor(self.runtime).run_here(run_id)
        future = asyncio.run_coroutine_threadsafe(run_here, self.loop)
        self._running.add(future)
        try:
            status = future.result()
        except concurrent.futures.CancelledError:
            return None
        finally:
            self._running.discard(future)
        if status is None:
            what = "not claimed"
        elif status is RunStatus.RUNNING:
            what = "waiting on other runs; its slot is free for them"
        else:
            what = status.value
        log.info("run %s", what, extra={"run_id": run_id})
        return None if status is None else status.value

    def broker_reconnected(self) -> None:
        """The worker's broker connection is back after a loss: enqueue the waiting
        runs again (see :meth:`CeleryExecutor.resend_queued`); returns at once."""
        if self._closing:
            return
        resend = self._executor(self.runtime).resend_queued()
        future = asyncio.run_coroutine_threadsafe(resend, self.loop)
        future.add_done_callback(_log_failure)

    def begin_shutdown(self) -> None:
        """SIGTERM (Celery's warm shutdown; docs/reliability.md#clean-shutdown): take no
        run over any more and give the runs executing here ``SPURLINE_SHUTDOWN_GRACE_S``
        to finish; past it, :meth:`close` hands them over. Returns at once.
        """
        if self._draining or not self._thread.is_alive():
            return
        self._draining = True
        self.loop.call_soon_threadsafe(self.runtime.begin_shutdown)
        threading.Thread(
            target=self._close_after_grace, name="spurline-worker-grace", daemon=True
        ).start()

    def _close_after_grace(self) -> None:
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        while self._running and time.monotonic() < deadline:
            time.sleep(0.05)
        self.close()

    def close(self) -> None:
        """Refuse new runs, hand over the runs still executing here (their attempts in
        flight stored as interrupted, their leases released, so other workers take them
        over at once), close the store and stop the loop. Celery's warm shutdown has
        normally let them end. Idempotent.
        """
        with self._close_lock:
            if not self._thread.is_alive():
                return
            self._closing = True
            for future in list(self._running):
                future.cancel()
            self._call(self.runtime.shutdown())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()


def _log_failure(future: concurrent.futures.Future[int]) -> None:
    exc = None if future.cancelled() else future.exception()
    if exc is not None:
        log.warning("enqueueing the waiting runs again failed: %s", exc)
