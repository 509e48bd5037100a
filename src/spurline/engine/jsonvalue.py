"""JSON checks for node outputs and inputs (docs/runs-api.md#running) and dotted-path lookups
(docs/runs-api.md#workflow-definitions)."""

from __future__ import annotations

import math
from typing import Any

#: Deepest nesting of objects/lists accepted. The store's JSON encoder (orjson) stops
#: at 254 levels, and a value is wrapped a few levels deeper when stored (a run's
#: outputs keyed by node id, a task's inputs keyed by title ...).
MAX_DEPTH = 100
# The integers the store's JSON encoder (orjson) can write: signed and unsigned 64-bit.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def json_problem(value: Any, path: str = "output") -> str | None:
    """Describe why ``value`` cannot be stored as JSON, or None when it can.

    Allowed: dict with str keys, list, tuple, str, int within 64 bits, finite float,
    bool, None, nested at most ``MAX_DEPTH`` levels. Rejected (with the path to the
    offending value): bytes, sets, NaN/Infinity, larger integers, strings or keys
    with unpaired surrogates or NUL characters, non-string keys, any other object, deeper nesting.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        v, p, depth = stack.pop()
        if depth > MAX_DEPTH:
            where = p if len(p) <= 80 else f"{p[:80]}..."
            return f"{where} is nested more than {MAX_DEPTH} levels deep"
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    return f"{p} has a key {k!r} of type {type(k).__name__}; JSON keys are strings"
                key_problem = _text_problem(k)
                if key_problem:
                    return f"{p} has a key {k!r} that {key_problem}"
                stack.append((item, f"{p}.{k}", depth + 1))
        elif isinstance(v, list | tuple):
            stack.extend((item, f"{p}[{i}]", depth + 1) for i, item in enumerate(v))
        else:
            problem = _scalar_problem(v)
            if problem:
                return f"{p} {problem}"
    return None


def _scalar_problem(v: Any) -> str | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int):
        ok = _INT_MIN <= v <= _INT_MAX
        return None if ok else "is an integer beyond 64 bits, which JSON storage cannot hold"
    if isinstance(v, str):
        return _text_problem(v)
    if isinstance(v, float):
        return None if math.isfinite(v) else f"is {v!r}, which JSON cannot represent"
    return f"is of type {type(v).__name__}, which JSON cannot represent"


def _text_problem(text: str) -> str | None:
    # Python strings may hold lone surrogates (JSON "\\ud800" parses to one), which
    # UTF-8 cannot encode, and NUL characters, which PostgreSQL cannot store: either
    # would make the store fail on write.
    if "\x00" in text:
        return "is a string with a NUL character (\\u0000), which the store cannot hold"
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError:
        return "is a string with an unpaired surrogate, not valid UTF-8"
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
