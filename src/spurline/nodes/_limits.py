"""Limits on PythonFuncNode code (docs/security.md §5).

:func:`apply` runs once in each pool worker process when it starts (before its
first call): it scrubs the environment, sets resource limits and installs an
audit hook (PEP 578). :func:`guard` wraps each call: it resets the per-call budgets
(processes, printed bytes, CPU seconds), hands the call its secrets and cleans up
processes the code left behind. :func:`explain` turns a broken limit into the
task's error, naming the setting.

Audit hooks and resource limits stop accidents and casual abuse; native code
(``ctypes``, compiled extensions) can get around the hooks. Hostile code belongs on
isolated machines (docs/security.md §5, "What this does not protect against").
"""

from __future__ import annotations

import errno
import os
import re
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson

_SECRET_WORDS = re.compile(
    r"(DATABASE|DB_URL|BROKER|REDIS|POSTGRES|MYSQL|AMQP|CELERY|API_KEY|APIKEY|TOKEN|SECRET|"
    r"PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|AUTH)",
    re.IGNORECASE,
)
_SECRET_PREFIXES = ("SPURLINE_", "AWS_", "AZURE_", "GOOGLE_", "GCP_", "PG", "OPENAI", "ANTHROPIC")
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)
_PROC_PID = re.compile(r"^/proc/(\d+)(/|$)")


class SecretNotFound(LookupError):
    """``secret(name)`` named no secret available to this code (docs/security.md §6)."""


class LimitExceeded(PermissionError):
    """User code went over a limit or did something refused; the message names it."""


@dataclass(frozen=True)
class Limits:
    """What a PythonFuncNode process may use (docs/security.md §5).

    Attributes:
        memory_mb: address space, MiB (``SPURLINE_PYTHON_MEMORY_MB``).
        cpu_s: CPU seconds per call (``SPURLINE_PYTHON_CPU_S``).
        max_processes: forks per call (``SPURLINE_PYTHON_MAX_PROCESSES``).
        max_open_files: file descriptors (``SPURLINE_PYTHON_MAX_OPEN_FILES``).
        max_output_bytes: size of the returned JSON (``SPURLINE_PYTHON_MAX_OUTPUT_MB``).
        max_print_bytes: printed per call (``SPURLINE_PYTHON_MAX_PRINT_MB``).
        env_allow: variables kept even when they look secret (``SPURLINE_PYTHON_ENV_ALLOW``).
        store_paths: files and folders of the store that may not be opened.
        store_addresses: ``(ip, port)`` of the database and broker, not to connect to.

    A process-wide pool takes the resource limits from the settings it starts with;
    the store a call must not reach travels with each call (:func:`guard`), as one
    pool may serve several stores (tests, embedded use).
    """

    memory_mb: int = 512
    cpu_s: int = 60
    max_processes: int = 8
    max_open_files: int = 64
    max_output_bytes: int = 16 << 20
    max_print_bytes: int = 128 << 20
    env_allow: tuple[str, ...] = ()
    store_paths: tuple[str, ...] = ()
    store_addresses: tuple[tuple[str, int], ...] = field(default=())

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """The limits ``settings`` (a :class:`~spurline.settings.Settings`) configure."""
        db_url = settings.resolved_database_url()
        home = settings.home.resolve()
        # the store's files: the database (with its journal files), datasets, outputs
        paths = [str(home / "datasets"), str(home / "outputs")]
        if db_url.startswith("sqlite:///"):
            db_file = os.path.realpath(db_url.removeprefix("sqlite:///"))
            paths += [db_file + suffix for suffix in ("", "-wal", "-shm", "-journal")]
        addresses: list[tuple[str, int]] = []
        for endpoint in (_endpoint(db_url), _endpoint(settings.broker_url)):
            if endpoint is not None:
                addresses += _resolve(*endpoint)
        return cls(
            memory_mb=settings.python_memory_mb,
            cpu_s=settings.python_cpu_s,
            max_processes=settings.python_max_processes,
            max_open_files=settings.python_max_open_files,
            max_output_bytes=int(settings.python_max_output_mb * (1 << 20)),
            max_print_bytes=int(settings.python_max_print_mb * (1 << 20)),
            env_allow=tuple(n.strip() for n in settings.python_env_allow.split(",") if n.strip()),
            store_paths=tuple(dict.fromkeys(paths)),
            store_addresses=tuple(dict.fromkeys(addresses)),
        )


def _resolve(host: str, port: int) -> list[tuple[str, int]]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return [(str(info[4][0]), port) for info in infos]


def _endpoint(url: str) -> tuple[str, int] | None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    defaults = {"postgresql": 5432, "redis": 6379, "amqp": 5672, "mysql": 3306}
    scheme = parts.scheme.split("+")[0]
    return parts.hostname, port or defaults.get(scheme, 0)


# -- process state (one worker process) -------------------------------------------
_limits = Limits()
_pid = 0
_forks = 0
_in_forked_child = False
_secrets: dict[str, str] = {}
_store_paths: tuple[str, ...] = ()
_blocked_addresses: frozenset[tuple[str, int]] = frozenset()
_local = threading.local()  # .trusted: this thread is inside the hook's own checks


def looks_secret(name: str, value: str) -> bool:
    """True for a variable user code must not see (docs/security.md §5)."""
    return (
        name.upper().startswith(_SECRET_PREFIXES)
        or bool(_SECRET_WORDS.search(name))
        or bool(_URL_WITH_PASSWORD.match(value))
    )


def scrub_environment(allow: tuple[str, ...]) -> None:
    """Remove secret-looking variables, also from the raw block ``/proc/self/environ``
    shows (it is the memory the process started with, which ``os.environ`` never
    changes)."""
    kept = {k: v for k, v in os.environ.items() if k in allow or not looks_secret(k, v)}
    os.environ.clear()
    _wipe_raw_environment()
    os.environ.update(kept)


def _wipe_raw_environment() -> None:
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])
    except (OSError, IndexError, ValueError):
        return  # not Linux: there is no /proc/self/environ to read either
    import ctypes

    if 0 < start < end:
        ctypes.memset(start, 0, end - start)


def apply(limits: Limits) -> None:
    """Start-up of a worker process: scrub the environment, set limits, install the hook."""
    global _limits, _pid
    _limits, _pid = limits, os.getpid()
    scrub_environment(limits.env_allow)
    mem = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 16
    files = max(limits.max_open_files, in_use + 8)
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    signal.signal(signal.SIGXCPU, _cpu_exceeded)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    sys.addaudithook(_audit)


def _after_fork_in_child() -> None:
    # A forked child may not fork again: the per-call budget is the parent's alone, so
    # a fork tree cannot grow past max_processes.
    global _in_forked_child, _pid
    _in_forked_child, _pid = True, os.getpid()


def _cpu_exceeded(signum: int, frame: Any) -> None:
    raise LimitExceeded(
        f"CPU time limit: the code used more than {_limits.cpu_s} CPU seconds "
        "(SPURLINE_PYTHON_CPU_S)"
    )


def _refuse(what: str) -> LimitExceeded:
    return LimitExceeded(f"{what} is refused in PythonFuncNode code (docs/security.md §5)")


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if getattr(_local, "trusted", False):
        return
    _local.trusted = True  # the checks below open /proc files themselves
    try:
        _check(event, args)
    finally:
        _local.trusted = False


def _check(event: str, args: tuple[Any, ...]) -> None:
    if event in ("open", "sqlite3.connect"):
        _check_path(args[0])
    elif event in ("os.kill", "os.killpg"):
        _check_signal(event, int(args[0]))
    elif event == "os.fork" or event == "os.forkpty":
        _count_fork()
    elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"):
        raise _refuse("starting a program")
    elif event == "socket.connect":
        _check_connect(args[1])


def _check_path(path: Any) -> None:
    if isinstance(path, int) or path is None:
        return
    text = os.fsdecode(path) if isinstance(path, bytes | os.PathLike) else str(path)
    if text in (":memory:", ""):
        return
    full = os.path.realpath(text)
    m = _PROC_PID.match(full)
    if m and int(m.group(1)) != os.getpid():
        raise _refuse(f"reading another process's {full}")
    for protected in _store_paths:
        if full == protected or full.startswith(protected.rstrip("/") + "/"):
            raise _refuse(f"opening the store ({full})")


def _check_signal(event: str, target: int) -> None:
    me = os.getpid()
    if event == "os.killpg" or target <= 0:
        # the worker leads its own group (spurline.nodes._lifetime): killing it is the
        # pool's job on a time limit, not the code's
        raise _refuse("signalling a process group")
    if target != me and not _is_descendant(target, me):
        raise _refuse(f"signalling process {target}")


def _is_descendant(pid: int, ancestor: int) -> bool:
    for _ in range(16):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                pid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


def _count_fork() -> None:
    global _forks
    if _in_forked_child or _forks >= _limits.max_processes:
        raise LimitExceeded(
            f"process limit: the code may start at most {_limits.max_processes} processes "
            "(SPURLINE_PYTHON_MAX_PROCESSES)"
        )
    _forks += 1


def _check_connect(address: Any) -> None:
    is_ip = isinstance(address, tuple) and len(address) >= 2
    if is_ip and (str(address[0]), int(address[1])) in _blocked_addresses:
        raise _refuse("connecting to the store or the broker")


class _CappedStream:
    """A text stream that refuses writes past the per-call print budget."""

    def __init__(self, inner: TextIO, budget: list[int]) -> None:
        self._inner = inner
        self._budget = budget

    def write(self, text: str) -> int:
        self._budget[0] -= len(text)
        if self._budget[0] < 0:
            raise LimitExceeded(
                f"print limit: the code printed more than {_limits.max_print_bytes >> 20} MB "
                "(SPURLINE_PYTHON_MAX_PRINT_MB)"
            )
        return self._inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


#: The key of the runtime's :class:`Limits` in ``NodeContext.services``.
LIMITS = "limits"
#: The key of the secrets service (``for_code(code) -> {name: value}``) there.
SECRETS = "secrets"
#: What travels with each call: the store's paths and addresses, the code's secrets.
CallScope = tuple[tuple[str, ...], tuple[tuple[str, int], ...], dict[str, str]]


def call_scope(limits: Limits | None, secrets: dict[str, str]) -> CallScope:
    """The :data:`CallScope` of a call under ``limits`` (None: no store to protect)."""
    if limits is None:
        return (), (), secrets
    return limits.store_paths, limits.store_addresses, secrets


@contextmanager
def guard(scope: CallScope | None = None) -> Iterator[None]:
    """Per-call budgets around one call of user code (docs/security.md §5)."""
    global _forks, _secrets, _store_paths, _blocked_addresses
    paths, addresses, secrets = scope or ((), (), {})
    _forks, _secrets = 0, dict(secrets)
    _store_paths = tuple(dict.fromkeys((*_limits.store_paths, *paths)))
    _blocked_addresses = frozenset((*_limits.store_addresses, *addresses))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + _limits.cpu_s
    if _pid:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
    budget = [_limits.max_print_bytes]
    out, err = sys.stdout, sys.stderr
    sys.stdout = _CappedStream(out, budget)
    sys.stderr = _CappedStream(err, budget)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
        _secrets = {}
        if _forks:
            _local.trusted = True
            try:
                _reap_children()
            finally:
                _local.trusted = False


def _reap_children() -> None:
    """Kill and wait for the processes the code forked and left running."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit() and _is_descendant(int(name), me):
            try:
                os.kill(int(name), signal.SIGKILL)
            except (PermissionError, ProcessLookupError):
                continue
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.01)
        except ChildProcessError:
            return


def secret(name: str) -> str:
    """The value of secret ``name`` (docs/security.md §6): what node code calls.

    Only secrets the code names literally, as ``secret("NAME")``, are handed to it.

    Raises:
        SecretNotFound: no such secret, or the code does not name it literally.
    """
    try:
        return _secrets[name]
    except KeyError:
        raise SecretNotFound(
            f"no secret {name!r} for this code: set it with 'spurline secrets set {name}' "
            f'and read it as secret("{name}") with the name written out'
        ) from None


def explain(exc: BaseException) -> str | None:
    """The task error for an exception that broke a limit; None for any other."""
    if isinstance(exc, LimitExceeded):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError):
        return (
            f"MemoryError: the code went over its memory limit of {_limits.memory_mb} MB "
            "(SPURLINE_PYTHON_MEMORY_MB)"
        )
    if isinstance(exc, OSError) and exc.errno == errno.EMFILE:
        return (
            f"OSError: open files limit: the code may hold at most {_limits.max_open_files} "
            "open files (SPURLINE_PYTHON_MAX_OPEN_FILES)"
        )
    return None


def output_problem(result: dict[str, Any]) -> str | None:
    """A message when ``result`` is larger than the output limit, else None."""
    size = len(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS))
    if size > _limits.max_output_bytes:
        return (
            f"LimitExceeded: output limit: the code returned {size / (1 << 20):.1f} MB, more "
            f"than {_limits.max_output_bytes / (1 << 20):g} MB (SPURLINE_PYTHON_MAX_OUTPUT_MB)"
        )
    return None
