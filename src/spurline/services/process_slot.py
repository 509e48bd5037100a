"""Process slots: which lease owners on this host and home are dead, known at once
(docs/reliability.md#clean-shutdown).

A lease owner id is ``host:pid:key:id``. ``key`` names a *slot*: ``{digest}.{n}``,
where ``digest`` hashes the host name and a random id kept in the home, and slot ``n``
is held by one live process at a time through an exclusive ``flock`` on
``{home}/leases/slot-{n}.lock``. The kernel drops the lock when its holder exits,
kill -9 included, so a process that can lock slot ``n`` knows that every earlier
owner with that key is dead, and may take its runs over without waiting for their
leases to expire. A lock held by a live process cannot be taken: two live servers
on one host never steal each other's runs.

Processes on other hosts, or on another home (a container restarted with a fresh
one), have other digests; their runs are taken over when their leases expire. When
the home cannot be written, a process has no slot and its owner id no key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Iterable
from pathlib import Path

from spurline.engine.clock import new_id

log = logging.getLogger(__name__)

_MAX_SLOTS = 1000


def _home_id(folder: Path) -> str:
    """The random id of this home, created once (atomically: by exactly one process)."""
    path = folder / "home-id"
    with contextlib.suppress(FileNotFoundError):
        text = path.read_text().strip()
        if text:
            return text
    tmp = folder / f".home-id.{os.getpid()}.{secrets.token_hex(4)}"
    tmp.write_text(secrets.token_hex(16))
    try:
        os.link(tmp, path)  # fails if another process made it first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None when a live process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _key(owner: str) -> str | None:
    parts = owner.split(":")
    return parts[2] if len(parts) == 4 else None


class ProcessSlot:
    """This process's slot on its host and home, and its lease owner id.

    Args:
        home: the Spurline home (``SPURLINE_HOME``).

    Attributes:
        owner: this process's lease owner id, ``host:pid:key:id`` (``host:pid:id`` when
            the home cannot hold slots); at most 80 characters.
        key: ``{digest}.{n}``, or None without a slot.
    """

    def __init__(self, home: Path) -> None:
        host = socket.gethostname()
        self._folder = home / "leases"
        self._fd: int | None = None
        self._digest: str | None = None
        self.key: str | None = None
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            seed = f"{host}\0{_home_id(self._folder)}".encode()
            self._digest = hashlib.sha256(seed).hexdigest()[:8]
            for n in range(_MAX_SLOTS):
                fd = _try_lock(self._folder / f"slot-{n}.lock")
                if fd is not None:
                    self._fd, self.key = fd, f"{self._digest}.{n}"
                    break
        except OSError as exc:  # a read-only home: leases then only expire
            log.warning("no process slot in %s (%s); runs are taken over on lease expiry",
                        self._folder, exc)  # fmt: skip
        name = host[:24]
        self.owner = (
            f"{name}:{os.getpid()}:{self.key}:{new_id()}"
            if self.key
            else f"{name}:{os.getpid()}:{new_id()}"
        )

    def dead(self, owners: Iterable[str]) -> list[str]:
        """Of ``owners`` (lease owner ids), those known dead: earlier holders of this
        process's slot, and owners whose slot on this host and home no process holds.

        Call it with owners read from the store *before* the call: a slot found free
        here may be taken by a new process right after, under a new owner id.
        """
        if self._digest is None:
            return []
        prefix = f"{self._digest}."
        free: dict[str, bool] = {}
        out = []
        for owner in owners:
            key = _key(owner)
            if owner == self.owner or key is None or not key.startswith(prefix):
                continue
            if key not in free:
                free[key] = key == self.key or self._slot_free(key.removeprefix(prefix))
            if free[key]:
                out.append(owner)
        return out

    def _slot_free(self, n: str) -> bool:
        if not n.isdigit():
            return False
        try:
            fd = _try_lock(self._folder / f"slot-{n}.lock")
        except OSError:
            return False
        if fd is None:
            return False
        os.close(fd)  # closing releases the lock: the slot stays free for a new process
        return True

    def close(self) -> None:
        """Give the slot up (idempotent); exiting does the same."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
