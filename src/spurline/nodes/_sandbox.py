"""The process pool that runs PythonFuncNode code (docs/runs-api.md#workflow-definitions).

User code runs in worker processes of a pebble ``ProcessPool``, so a runaway loop
or a crash in user code fails that task and never the server: a call past its time
limit, or one canceled, has its worker process killed and replaced. This isolates
faults; it is not a security sandbox (user code has full Python).
"""

from __future__ import annotations

import asyncio
import copy
import multiprocessing
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pebble import ProcessExpired, ProcessPool

from spurline.engine.jsonvalue import json_problem
from spurline.engine.logcap import CODE_FILENAME, Entry, LogCapture, captured, code_traceback
from spurline.exceptions import NodeFailed, NodeTimeout, OutputNotJSON
from spurline.nodes import _limits

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


class PythonPool:
    """A lazily started pebble pool shared by every run in this process."""

    def __init__(
        self,
        workers: int,
        cap_bytes: int = 1 << 20,
        max_lines: int = 10_000,
        limits: _limits.Limits | None = None,
    ) -> None:
        self.workers = workers
        self.limits = limits
        self.cap = (cap_bytes, max_lines)
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def _get(self) -> ProcessPool:
        with self._lock:
            if self._pool is not None and not self._pool.active:
                # A pool pebble declared broken: stop its workers, start afresh.
                self._pool.stop()  # type: ignore[no-untyped-call]
                self._pool = None
            if self._pool is None:
                # forkserver: workers start from a clean process, not a copy of the
                # server with its threads and open database handles.
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload([__name__])
                self._pool = ProcessPool(
                    max_workers=self.workers,
                    context=ctx,
                    initializer=_limits.apply if self.limits else None,
                    initargs=(self.limits,) if self.limits else (),
                )
            return self._pool

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
        the call: time queued for a free process is not run time. With ``ctx``, the
        start time and the captured lines go to the attempt it records.

        Raises:
            NodeTimeout: past ``timeout_s`` seconds (the worker is killed).
            OutputNotJSON: the code returned something JSON cannot hold.
            NodeFailed: the code raised, returned a non-dict, or its process died.
        """
        for attempt in (1, 2):
            future = self._get().schedule(
                call_user_function, args=(code, inputs, *self.cap, scope), timeout=timeout_s
            )
            try:
                kind, value, started, lines, tb = await asyncio.wrap_future(future)
                break
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
        if ctx is not None:
            ctx.add_lines(lines, started)
        if kind == "not_json":
            raise OutputNotJSON(value)
        if kind == "error":
            raise NodeFailed(value, traceback=tb)
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        with self._lock:
            if self._pool is not None:
                self._pool.stop()  # type: ignore[no-untyped-call]
                self._pool.join()
                self._pool = None


_default: PythonPool | None = None


def default_pool() -> PythonPool:
    """The process-wide pool, sized by ``SPURLINE_PYTHON_WORKERS``."""
    global _default
    if _default is None:
        from spurline.settings import get_settings

        settings = get_settings()
        _default = PythonPool(
            settings.python_workers,
            settings.log_cap_bytes,
            settings.log_cap_lines,
            _limits.Limits.from_settings(settings),
        )
    return _default


def shutdown_default_pool() -> None:
    """Stop the process-wide pool if it was started."""
    if _default is not None:
        _default.close()
