"""How long PythonFuncNode processes live (docs/reliability.md#orphans-and-hogging).

User code must not outlive what owns it. :func:`bind_worker` runs first in each pool
worker process (before the limits of :mod:`spurline.nodes._limits`):

- the worker starts its own session, so it and every process its code forks share
  one process group, which the pool kills as a whole past a node's time limit, and
  which the worker kills itself on SIGTERM or when the process that owns the pool dies (a
  thread waits on the pipe multiprocessing keeps open from the owner: it reaches
  end-of-file when the owner exits, however it exits, ``kill -9`` included);
- a process the code forks gets ``PR_SET_PDEATHSIG`` = SIGKILL, so it dies with the
  worker even when the worker is killed without a chance to clean up, and even if
  it moved to a session of its own;
- the worker is a child subreaper (``PR_SET_CHILD_SUBREAPER``): what a forked child
  leaves behind is re-parented to the worker, not to init, so the worker's clean-up
  after each call finds it.

On systems without ``prctl`` (not Linux) only the process group part applies.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.connection import wait
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36

_libc: Any = None
_worker_pid = 0


def _prctl(option: int, value: int) -> bool:
    if _libc is None:
        return False
    return bool(_libc.prctl(option, value, 0, 0, 0) == 0)


def bind_worker() -> None:
    """Tie this pool worker and everything it forks to the pool's owner
    (docs/reliability.md#orphans-and-hogging).

    Call once, first thing in the worker process. Never raises: on a system that
    lacks a mechanism, that mechanism is skipped.
    """
    global _libc, _worker_pid
    _worker_pid = os.getpid()
    if sys.platform.startswith("linux"):
        # loaded now: a forked child calls prctl before any user code runs, and the
        # audit hooks installed after this would see the library being opened
        with contextlib.suppress(OSError):
            _libc = ctypes.CDLL(None, use_errno=True)
    with contextlib.suppress(OSError):
        os.setsid()
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGTERM, _stop_group)
    os.register_at_fork(after_in_child=_die_with_worker)
    owner = multiprocessing.parent_process()
    sentinel = getattr(owner, "sentinel", None)
    if sentinel is not None:
        watch = threading.Thread(
            target=_watch_owner, args=(sentinel,), name="spurline-owner-watch", daemon=True
        )
        watch.start()


def _kill_group() -> None:
    # The worker leads its group (setsid above), so this kills the worker too: every
    # process the code forked goes with it, whatever it was doing.
    group = os.getpgrp()
    if group == _worker_pid:
        with contextlib.suppress(Exception):
            if _libc is not None:
                _libc.killpg(group, signal.SIGKILL)  # past the audit hook, which refuses it
            os.killpg(group, signal.SIGKILL)
    os._exit(1)  # setsid failed: at least the worker goes; PDEATHSIG takes its children


def _stop_group(signum: int, frame: Any) -> None:
    _kill_group()


def _watch_owner(sentinel: int) -> None:
    wait([sentinel])
    _kill_group()


def _die_with_worker() -> None:
    # The signal comes when the thread that forked exits: code forking from a thread
    # of its own loses the child with that thread, as it would lose it with the call.
    if os.getpid() == _worker_pid or not _worker_pid:
        return
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != _worker_pid:
        os._exit(1)  # the worker died between the fork and the prctl
