"""JSON checks for node outputs and inputs (SPEC §4.4) and dotted-path lookups (SPEC §3)."""

from __future__ import annotations

import math
from typing import Any

#: Deepest nesting of objects/lists accepted. The store's JSON encoder (orjson) stops
#: at 254 levels, and a value is wrapped a few levels deeper when stored (a run's
#: outputs keyed by node id, a task's inputs keyed by title ...).
MAX_DEPTH = 100


def json_problem(value: Any, path: str = "output") -> str | None:
    """Describe why ``value`` cannot be stored as JSON, or None when it can.

    Allowed: dict with str keys, list, tuple, str, int, finite float, bool, None,
    nested at most ``MAX_DEPTH`` levels. Rejected (with the path to the offending
    value): bytes, sets, NaN/Infinity, non-string keys, any other object, and
    deeper nesting.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        v, p, depth = stack.pop()
        if depth > MAX_DEPTH:
            where = p if len(p) <= 80 else f"{p[:80]}..."
            return f"{where} is nested more than {MAX_DEPTH} levels deep"
        if v is None or isinstance(v, str | bool | int):
            continue
        if isinstance(v, float):
            if not math.isfinite(v):
                return f"{p} is {v!r}, which JSON cannot represent"
            continue
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    return f"{p} has a key {k!r} of type {type(k).__name__}; JSON keys are strings"
                stack.append((item, f"{p}.{k}", depth + 1))
            continue
        if isinstance(v, list | tuple):
            stack.extend((item, f"{p}[{i}]", depth + 1) for i, item in enumerate(v))
            continue
        return f"{p} is of type {type(v).__name__}, which JSON cannot represent"
    return None


def resolve_path(data: Any, path: str) -> Any:
    """Follow ``"Title.field.sub"`` (or list indices ``"Title.items.0"``) into ``data``.

    Returns None when any step is missing, so a skipped branch yields null.
    """
    cur = data
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.lstrip("-").isdigit():
            idx = int(part)
            cur = cur[idx] if -len(cur) <= idx < len(cur) else None
        else:
            return None
        if cur is None:
            return None
    return cur
