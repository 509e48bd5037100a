"""The process pool that runs PythonFuncNode code (docs/runs-api.md#workflow-definitions).

User code runs in worker processes of :class:`PythonPool`, so a runaway loop
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
import os
import pickle
import signal
import socket
import struct
import textwrap
import threading
import time
from collections import deque
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

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


# A frame on a worker's socket: an 8-byte big-endian length, then that many bytes of
# pickle. Requests are (code, inputs, cap_bytes, max_lines, scope); replies are a
# CallResult.
_HEADER = struct.Struct("!Q")


def _recv_frame(sock: socket.socket) -> bytearray | None:
    """Worker side: the next frame's body, or None at end-of-file (the owner is gone)."""
    header = _recv_exactly(sock, _HEADER.size)
    if header is None:
        return None
    return _recv_exactly(sock, _HEADER.unpack(header)[0])


def _recv_exactly(sock: socket.socket, n: int) -> bytearray | None:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return buf


def _serve(sock: socket.socket, limits: _limits.Limits | None) -> None:
    """Body of a worker process: run the calls that come on ``sock``, one at a time,
    until the owner closes it."""
    _start_worker(limits)
    sock.setblocking(True)
    while True:
        body = _recv_frame(sock)
        if body is None:
            return
        try:
            code, inputs, cap_bytes, max_lines, scope = pickle.loads(body)
            del body  # big inputs should not stay alive twice during the call
            result = call_user_function(code, inputs, cap_bytes, max_lines, scope)
            reply = pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            reply = pickle.dumps(("error", _limits.explain(MemoryError()), time.time(), [], None))
        sock.sendall(_HEADER.pack(len(reply)) + reply)


class _Worker:
    """One worker process and the owner's end of the socket it reads calls from."""

    def __init__(self, ctx: Any, limits: _limits.Limits | None, generation: int) -> None:
        self.generation = generation
        mine, theirs = socket.socketpair()
        self.process = ctx.Process(
            target=_serve, args=(theirs, limits), name="spurline-python", daemon=True
        )
        try:
            self.process.start()
        finally:
            theirs.close()
        mine.setblocking(False)
        self.sock = mine

    def kill(self) -> None:
        """Kill the worker and every process its code forked (one process group:
        docs/reliability.md#orphans-and-hogging), and close its socket; never raises."""
        self.sock.close()
        self.signal()

    def signal(self) -> None:
        """SIGKILL to the worker's process group. Its socket stays open, so a call in
        flight on another event loop sees end-of-file rather than waiting on a closed
        file descriptor."""
        pid = self.process.pid
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:  # it leads its group (spurline.nodes._lifetime)
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        # reaped here if already gone, else by the next Process.start or close()
        self.process.join(0)

    def stop(self) -> None:
        """Let an idle worker exit on its own (end-of-file on its socket)."""
        self.sock.close()

    async def exit_note(self) -> str:
        """How the process ended, after its socket reached end-of-file."""
        for _ in range(200):  # the socket closes as the process exits: a moment at most
            if self.process.exitcode is not None:
                break
            await asyncio.sleep(0.01)
            self.process.join(0)
        self.kill()
        return f"exit code {self.process.exitcode}"


class _Died(Exception):
    """The worker's socket reached end-of-file during a call."""


def _send(sock: socket.socket, data: memoryview) -> int:
    """Bytes of ``data`` the socket took at once (0 when its buffer is full)."""
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0
    except OSError:
        raise _Died from None


async def _send_rest(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, data: memoryview
) -> None:
    """Send ``data`` as the worker reads it (an input bigger than the socket buffer)."""
    fd = sock.fileno()
    while data:
        writable: asyncio.Future[None] = loop.create_future()
        loop.add_writer(fd, _settle, writable)
        try:
            await writable
        finally:
            # at once, not from a done callback: the descriptor may be closed and its
            # number reused by then
            loop.remove_writer(fd)
        data = data[_send(sock, data) :]


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# what one read of a reply takes at most: below malloc's mmap threshold, since a
# 1 MiB buffer cost ~18 us of mmap/munmap on every call of every node
_READ_SIZE = 1 << 16


def _reply(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> asyncio.Future[bytearray]:
    """A future of the next frame's body on ``sock``, read as it comes in by a reader
    callback of ``loop``; the caller removes the reader (``loop.remove_reader``)."""
    future: asyncio.Future[bytearray] = loop.create_future()
    buf = bytearray()
    fd = sock.fileno()

    def readable() -> None:
        try:
            chunk = sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if future.done():
            return
        if not chunk:
            future.set_exception(_Died())
            return
        buf.extend(chunk)
        # one reply per call, so nothing follows the frame: its body is the rest
        if len(buf) >= _HEADER.size and len(buf) >= _HEADER.size + _HEADER.unpack_from(buf)[0]:
            del buf[: _HEADER.size]
            future.set_result(buf)

    loop.add_reader(fd, readable)
    return future


# how long a burst lane stays up with nothing to do before its processes are stopped
BURST_IDLE_S = 30.0


class _Lane:
    """``size`` worker processes (started as calls need them), the idle ones, and the
    calls the lane holds (``busy``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0
        self.idle: list[_Worker] = []
        self.idle_timer: threading.Timer | None = None


class PythonPool:
    """A lazily started pool of processes shared by every run in this process, and by
    every event loop in it (a Celery worker runs one per thread).

    ``workers`` processes are the regular lane; when every one of them holds a call,
    up to ``burst`` more start (the burst lane, stopped after ``BURST_IDLE_S`` idle),
    so a few runaway nodes cannot hold every slot; past that, calls wait for the
    first free slot, and waiting is not charged to their time limit
    (docs/reliability.md#orphans-and-hogging).

    A call is one frame to the worker's socket and one back, read by the calling event
    loop itself: no thread sits between the loop and the worker, so a call costs two
    process wake-ups (docs/reliability.md#orphans-and-hogging).
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
        # close() moves to the next generation: a worker of an older one that comes
        # back from a call is killed, not kept
        self._generation = 0
        self._started: list[_Worker] = []  # every worker not yet reaped, for close()

    def _start(self) -> _Worker:
        """A new worker process (blocking: run it in a thread)."""
        # forkserver: workers start from a clean process, not a copy of the server
        # with its threads and open database handles.
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        worker = _Worker(ctx, self.limits, self._generation)
        with self._lock:
            self._started = [w for w in self._started if w.process.exitcode is None]
            self._started.append(worker)
        return worker

    async def warm(self) -> None:
        """Start the regular lane's processes now, so the first calls do not wait."""
        with self._lock:
            lane = self._lanes[0]
            missing = lane.size - lane.busy - len(lane.idle)
        started = await asyncio.gather(*(asyncio.to_thread(self._start) for _ in range(missing)))
        for worker in started:
            self._keep(lane, worker, held=False)

    def _keep(self, lane: _Lane, worker: _Worker, held: bool) -> None:
        """Put a free worker back among the lane's idle ones, or stop it when the pool
        was closed since it started or the lane already has all it may hold. ``held``:
        the caller still holds one of the lane's slots (counted in ``busy``)."""
        with self._lock:
            room = lane.size - lane.busy + (1 if held else 0)
            if worker.generation == self._generation and len(lane.idle) < room:
                lane.idle.append(worker)
                return
        worker.kill()

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
            if lane is not self._lanes[0] and lane.busy == 0 and lane.idle:
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
            idle, lane.idle = (lane.idle, []) if lane.busy == 0 else ([], lane.idle)
        for worker in idle:
            worker.stop()
        for worker in idle:
            worker.process.join(5)

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

    async def _worker(self, lane: _Lane) -> _Worker:
        with self._lock:
            if lane.idle:
                return lane.idle.pop()
        try:
            return await asyncio.to_thread(self._start)
        except Exception as exc:  # e.g. out of processes or memory
            raise NodeFailed(f"ProcessExpired: could not start a worker process ({exc})") from None

    async def _run(
        self,
        lane: _Lane,
        code: str,
        inputs: dict[str, Any],
        timeout_s: float,
        scope: _limits.CallScope | None,
    ) -> CallResult:
        worker = await self._worker(lane)
        loop = asyncio.get_running_loop()
        body = pickle.dumps((code, inputs, *self.cap, scope), pickle.HIGHEST_PROTOCOL)
        frame = memoryview(_HEADER.pack(len(body)) + body)
        reply = _reply(loop, worker.sock)
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            timed_out = True
            reply.cancel()

        timer = loop.call_later(timeout_s, expire)
        try:
            try:
                sent = _send(worker.sock, frame)
                if sent < len(frame):
                    await _send_rest(loop, worker.sock, frame[sent:])
                data = await reply
            finally:
                timer.cancel()
                reply.cancel()
                loop.remove_reader(worker.sock.fileno())
            result: CallResult = pickle.loads(data)
        except (_Died, ConnectionError):
            note = await worker.exit_note()
            raise NodeFailed(f"ProcessExpired: the code's process died ({note})") from None
        except asyncio.CancelledError:
            worker.kill()
            if timed_out:
                msg = f"TimeoutError: the code ran longer than {timeout_s:g} s"
                raise NodeTimeout(msg) from None
            raise
        except BaseException:
            worker.kill()
            raise
        # the lane's slot is still held: the worker goes back before it is given up
        self._keep(lane, worker, held=True)
        return result

    def close(self) -> None:
        """Stop the workers, killing those in a call (idempotent). The pool stays
        usable: later calls start new workers."""
        with self._lock:
            self._generation += 1
            workers, self._started = self._started, []
            idle = {id(w) for lane in self._lanes for w in lane.idle}
            for lane in self._lanes:
                lane.idle = []
                if lane.idle_timer is not None:
                    lane.idle_timer.cancel()
                    lane.idle_timer = None
        for worker in workers:
            # a worker in a call keeps its socket: its caller sees end-of-file
            worker.kill() if id(worker) in idle else worker.signal()
        for worker in workers:
            worker.process.join(5)


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
