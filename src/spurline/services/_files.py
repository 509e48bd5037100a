"""Files under ``SPURLINE_HOME`` written whole or not at all (docs/reliability.md#disk-full).

A file (an uploaded dataset, a batch's output) is written to ``NAME.part`` and renamed
to ``NAME`` when complete, so a reader never sees half of one. The writer holds an
exclusive ``flock`` on the ``.part`` while it writes: a ``.part`` nobody holds is the
leftover of a process killed mid-write (or of a full disk) and :func:`sweep` removes
it, even while other processes of the deployment write their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

PART = ".part"


@contextlib.contextmanager
def written_whole(dest: Path) -> Iterator[BinaryIO]:
    """Yield a file to write ``dest``'s content to; on a clean exit it becomes ``dest``,
    on any error (a full disk included) it is removed and ``dest`` is left as it was.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART)
    try:
        with part.open("wb") as out:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)
            yield out
            out.flush()  # a full disk fails here, before the rename
            # renamed while still locked: a sweep never takes a complete file for a leftover
            part.replace(dest)
    finally:
        part.unlink(missing_ok=True)


def sweep(folder: Path, orphans: set[Path] | None = None, min_age_s: float = 60.0) -> list[Path]:
    """Remove what interrupted writes left in ``folder``.

    Args:
        folder: a folder of files written with :func:`written_whole`.
        orphans: complete files that no record names (a process died between the
            rename and the insert of the record); removed only when older than
            ``min_age_s``, since another process may be about to record its own.
        min_age_s: see ``orphans``.

    Returns:
        The paths removed.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for part in folder.glob(f"*{PART}"):
        with contextlib.suppress(OSError), part.open("rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being written right now
            part.unlink(missing_ok=True)
            removed.append(part)
    old = time.time() - min_age_s
    for path in orphans or set():
        with contextlib.suppress(OSError):
            if path.parent == folder and path.stat().st_mtime < old:
                path.unlink()
                removed.append(path)
    if removed:
        log.info("removed %d file(s) left by interrupted writes in %s", len(removed), folder)
    return removed
