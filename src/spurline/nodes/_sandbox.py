"""The process pool that runs PythonFuncNode code (docs/runs-api.md#workflow-definitions).

User code runs in worker processes of a pebble ``ProcessPool``, so a runaway loop
or a crash in user code fails that task and never the server: a call past its time
limit, or one canceled, has its worker process killed and replaced, together with
every process the code forked; and the workers die with the process that owns the
pool (:mod:`spurline.nodes._lifetime`). This isolates faults; it is not a security
sandbox (user code has full Python).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import multiprocessing
import textwrap
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pebble import ProcessExpired, ProcessPool

from spurline.engine.jsonvalue import json_problem
from spurline.engine.logcap import CODE_FILENAME, Entry, LogCapture, captured, code_traceback
from spurline.exceptions import NodeFailed, NodeTimeout, OutputNotJSON
from spurline.nodes import _lifetime, _limits

if TYPE_CHECKING:  # worker processes import this module: keep pydantic out of them
    from spurline.engine.nodetype import NodeContext

FUNCTION_NAME = "user_function"


class InputModel:
    """What user code sees as ``input_model``: attribute access by predecessor title.

    ``input_model.In.text`` reads nested objects; ``input_model["In"]`` works too;
    ``model_dump()`` returns a deep copy as plain dicts (as PySpur's pydantic model).
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        try:
            return _wrap(self._data[name])
        except KeyError:
            fields = ", ".join(self._data) or "none"
            raise AttributeError(f"input has no field {name!r} (fields: {fields})") from None

    def __getitem__(self, name: str) -> Any:
        return _wrap(self._data[name])

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __repr__(self) -> str:
        return f"InputModel({self._data!r})"

    def get(self, name: str, default: Any = None) -> Any:
        """Like ``dict.get``."""
        return _wrap(self._data.get(name, default))

    def keys(self) -> list[str]:
        """Field names."""
        return list(self._data)

    def model_dump(self) -> dict[str, Any]:
        """A deep copy of the data as plain Python objects."""
        return copy.deepcopy(self._data)


def _wrap(value: Any) -> Any:
    return InputModel(value) if isinstance(value, dict) else value


def function_source(code: str) -> str:
    """The module source that defines ``user_function(input_model)`` from a code body."""
    return f"def {FUNCTION_NAME}(input_model):\n" + textwrap.indent(code, "    ") + "\n"


@lru_cache(maxsize=4096)
def syntax_problem(code: str) -> str | None:
    """A SyntaxError in ``code`` as one sentence, or None when it compiles.

    Cached by source: a definition of many nodes with the same code compiles it once
    (docs/reliability.md#validation-and-bad-input)."""
    try:
        compile(function_source(code), "<PythonFuncNode>", "exec")
    except SyntaxError as exc:
        line = (exc.lineno or 1) - 1
        return f"code does not compile: {exc.msg} (line {line})"
    return None


@lru_cache(maxsize=512)
def _compiled(code: str) -> Any:
    namespace: dict[str, Any] = {"__name__": "spurline_user_code", "secret": _limits.secret}
    exec(compile(function_source(code), CODE_FILENAME, "exec"), namespace)
    return namespace[FUNCTION_NAME]


# (kind, value, unix time the code started, captured lines, traceback of the code)
CallResult = tuple[str, Any, float, list[Entry], str | None]


def call_user_function(
    code: str,
    inputs: dict[str, Any],
    cap_bytes: int = 1 << 20,
    max_lines: int = 10_000,
    scope: _limits.CallScope | None = None,
) -> CallResult:
    """Worker side: run ``code`` on ``inputs`` with its output captured.

    Returns ``(kind, value, started, lines, traceback)``: kind ``"ok"`` with the
    output dict, ``"error"`` with ``"Type: message"`` (and the code's traceback) or
    ``"not_json"``; never raises, so user exception classes need not pickle. What the
    code printed or logged comes back as lines capped at ``cap_bytes`` / ``max_lines``
    (docs/observability.md). The call runs within the limits of ``scope``
    (docs/security.md §5).
    """
    started = time.time()
    capture = LogCapture(cap_bytes, max_lines)
    with captured(capture):
        kind, value, tb = _call(code, inputs, scope)
    return kind, value, started, capture.entries(), tb


def _call(
    code: str, inputs: dict[str, Any], scope: _limits.CallScope | None
) -> tuple[str, Any, str | None]:
    try:
        with _limits.guard(scope):
            result = _compiled(code)(InputModel(inputs))
    except BaseException as exc:  # user code may raise anything, SystemExit included
        limit = _limits.explain(exc)
        if limit:
            return "error", limit, None
        return "error", f"{type(exc).__name__}: {exc}", code_traceback(exc, code)
    if not isinstance(result, dict):
        msg = f"TypeError: the code must return a dict, got {type(result).__name__}"
        return "error", msg, None
    problem = json_problem(result)
    if problem:
        return "not_json", f"OutputNotJSON: {problem}", None
    too_big = _limits.output_problem(result)
    if too_big:
        return "error", too_big, None
    return "ok", result, None


def _start_worker(limits: _limits.Limits | None) -> None:
    """Start-up of a pool worker: bound to its owner first, then limited."""
    _lifetime.bind_worker()
    if limits is not None:
        _limits.apply(limits)


# how long a burst lane stays up with nothing to do before its processes are stopped
BURST_IDLE_S = 30.0


class _Lane:
    """One pebble pool of ``size`` workers and the calls it holds (``busy``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0
        self.pool: ProcessPool | None = None
        self.idle_timer: threading.Timer | None = None


class PythonPool:
    """A lazily started pool of processes shared by every run in this process.

    ``workers`` processes are the regular lane; when every one of them holds a call,
    up to ``burst`` more start (the burst lane, stopped after ``BURST_IDLE_S`` idle),
    so a few runaway nodes cannot hold every slot; past that, calls wait for the
    first free slot, and waiting is not charged to their time limit
    (docs/reliability.md#orphans-and-hogging).
    """

    def __init__(
        self,
        workers: int,
        cap_bytes: int = 1 << 20,
        max_lines: int = 10_000,
        limits: _limits.Limits | None = None,
        burst: int = 0,
    ) -> None:
        self.workers = workers
        self.limits = limits
        self.cap = (cap_bytes, max_lines)
        self._lanes = [_Lane(workers)] + ([_Lane(burst)] if burst > 0 else [])
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[_Lane]]] = deque()
        self._lock = threading.Lock()

    def _get(self, lane: _Lane) -> ProcessPool:
        with self._lock:
            if lane.pool is not None and not lane.pool.active:
                # A pool pebble declared broken: stop its workers, start afresh.
                lane.pool.stop()  # type: ignore[no-untyped-call]
                lane.pool = None
            if lane.pool is None:
                # forkserver: workers start from a clean process, not a copy of the
                # server with its threads and open database handles.
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload([__name__])
                lane.pool = ProcessPool(
                    max_workers=lane.size,
                    context=ctx,
                    initializer=_start_worker,
                    initargs=(self.limits,),
                )
            return lane.pool

    async def _take(self) -> _Lane:
        """A slot: a lane with a free process, waiting for one when all are busy."""
        loop = asyncio.get_running_loop()
        with self._lock:
            for lane in self._lanes:
                if lane.busy < lane.size:
                    lane.busy += 1
                    if lane.idle_timer is not None:
                        lane.idle_timer.cancel()
                        lane.idle_timer = None
                    return lane
            waiter: asyncio.Future[_Lane] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            return await waiter
        except asyncio.CancelledError:
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove((loop, waiter))
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result())  # handed a slot as it was canceled
            raise

    def _give_back(self, lane: _Lane) -> None:
        """Hand ``lane``'s slot to the first waiting call, else free it."""
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                if waiter.done():
                    continue
                with contextlib.suppress(RuntimeError):  # its loop is closed
                    loop.call_soon_threadsafe(self._deliver, waiter, lane)
                    return
            lane.busy -= 1
            if lane is not self._lanes[0] and lane.busy == 0 and lane.pool is not None:
                lane.idle_timer = threading.Timer(BURST_IDLE_S, self._stop_idle, (lane,))
                lane.idle_timer.daemon = True
                lane.idle_timer.start()

    def _deliver(self, waiter: asyncio.Future[_Lane], lane: _Lane) -> None:
        if waiter.done():
            self._give_back(lane)  # canceled meanwhile: the next one gets it
        else:
            waiter.set_result(lane)

    def _stop_idle(self, lane: _Lane) -> None:
        with self._lock:
            pool = lane.pool if lane.busy == 0 else None
            if pool is not None:
                lane.pool = None
        if pool is not None:
            pool.stop()  # type: ignore[no-untyped-call]
            pool.join()

    async def call(
        self,
        code: str,
        inputs: dict[str, Any],
        timeout_s: float,
        ctx: NodeContext | None = None,
        scope: _limits.CallScope | None = None,
    ) -> dict[str, Any]:
        """Run ``code`` in a worker; return its output dict.

        ``timeout_s`` counts from when a worker process starts the code, not from
        the call: time waiting for a free process is not run time. With ``ctx``, the
        start time and the captured lines go to the attempt it records.

        Raises:
            NodeTimeout: past ``timeout_s`` seconds (the worker and every process it
                forked are killed).
            OutputNotJSON: the code returned something JSON cannot hold.
            NodeFailed: the code raised, returned a non-dict, or its process died.
        """
        lane = await self._take()
        try:
            kind, value, started, lines, tb = await self._run(lane, code, inputs, timeout_s, scope)
        finally:
            self._give_back(lane)
        if ctx is not None:
            ctx.add_lines(lines, started)
        if kind == "not_json":
            raise OutputNotJSON(value)
        if kind == "error":
            raise NodeFailed(value, traceback=tb)
        return value  # type: ignore[no-any-return]

    async def _run(
        self,
        lane: _Lane,
        code: str,
        inputs: dict[str, Any],
        timeout_s: float,
        scope: _limits.CallScope | None,
    ) -> CallResult:
        for attempt in (1, 2):
            future = self._get(lane).schedule(
                call_user_function, args=(code, inputs, *self.cap, scope), timeout=timeout_s
            )
            try:
                return await asyncio.wrap_future(future)
            except FutureTimeout:
                msg = f"TimeoutError: the code ran longer than {timeout_s:g} s"
                raise NodeTimeout(msg) from None
            except ProcessExpired as exc:
                raise NodeFailed(f"ProcessExpired: the code's process died ({exc})") from None
            except BrokenProcessPool as exc:
                # pebble breaks the whole pool, failing every call in flight, when a
                # worker dies before its call was registered as started (a race with
                # os._exit or a crash). Those calls are in flight, so running them once
                # more on a fresh pool is what crash recovery would do anyway.
                if attempt == 2:
                    msg = f"ProcessExpired: the code's process died (the pool broke: {exc})"
                    raise NodeFailed(msg) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        with self._lock:
            pools = [lane.pool for lane in self._lanes if lane.pool is not None]
            for lane in self._lanes:
                lane.pool = None
                if lane.idle_timer is not None:
                    lane.idle_timer.cancel()
                    lane.idle_timer = None
        for pool in pools:
            pool.stop()  # type: ignore[no-untyped-call]
            pool.join()


_default: PythonPool | None = None


def default_pool() -> PythonPool:
    """The process-wide pool, sized by ``SPURLINE_PYTHON_WORKERS`` and
    ``SPURLINE_PYTHON_BURST_WORKERS``."""
    global _default
    if _default is None:
        from spurline.settings import get_settings

        settings = get_settings()
        _default = PythonPool(
            settings.python_workers,
            settings.log_cap_bytes,
            settings.log_cap_lines,
            _limits.Limits.from_settings(settings),
            settings.python_burst_workers,
        )
    return _default


def shutdown_default_pool() -> None:
    """Stop the process-wide pool if it was started."""
    if _default is not None:
        _default.close()
