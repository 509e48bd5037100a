"""Security decisions of ``spurline serve``: whether auth applies, and whether it may
start at all (docs/security.md §2)."""

from __future__ import annotations

from spurline.cli._errors import CliError
from spurline.settings import Settings, is_loopback_bind


def serving_settings(settings: Settings, host: str) -> Settings:
    """``settings`` with ``auth`` resolved for a server bound to ``host``.

    Raises:
        CliError: bound beyond loopback with auth off, or with no token created yet.
    """
    loopback = is_loopback_bind(host)
    mode = settings.auth or ("off" if loopback else "required")
    if not loopback and mode == "off":
        raise CliError(
            f"refusing to serve {host} with SPURLINE_AUTH=off: anyone who reaches the port "
            "could run code; bind 127.0.0.1, or unset SPURLINE_AUTH and create a token with "
            "'spurline tokens create NAME --role admin'"
        )
    if not loopback and not _has_tokens(settings):
        raise CliError(
            f"refusing to serve {host} without a token: nobody could sign in; create one "
            "first with 'spurline tokens create NAME --role admin'"
        )
    return settings.model_copy(update={"auth": mode})


def _has_tokens(settings: Settings) -> bool:
    from spurline.services.auth import AuthService
    from spurline.store.db import Database

    db = Database(settings.resolved_database_url())
    try:
        db.upgrade()
        return AuthService(db, settings).has_tokens()
    finally:
        db.close()


def shield_process() -> None:
    """Mark this process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``): processes of the
    same user can then read neither its ``/proc/<pid>/environ`` nor its memory
    (docs/security.md §5). Does nothing where ``prctl`` is missing (not Linux)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        return
