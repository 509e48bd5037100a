"""What JSON can hold (SPEC §4.4) and dotted paths into node outputs (SPEC §3)."""

from __future__ import annotations

from typing import Any

import pytest

from spurline.engine.jsonvalue import MAX_DEPTH, json_problem, resolve_path


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "s",
        1,
        1.5,
        True,
        [1, "a", None],
        (1, 2),
        {"a": {"b": [1, {"c": 2.0}]}},
        nested(MAX_DEPTH),
        2**64 - 1,
        -(2**63),
        "é ✓ 🐧",
    ],
)
def test_json_values_pass(value: Any) -> None:
    assert json_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"b": b"x"}, "output.b is of type bytes, which JSON cannot represent"),
        ({"s": {1}}, "output.s is of type set, which JSON cannot represent"),
        ({"n": float("nan")}, "output.n is nan, which JSON cannot represent"),
        ({"i": [0, float("-inf")]}, "output.i[1] is -inf, which JSON cannot represent"),
        ({1: "x"}, "output has a key 1 of type int; JSON keys are strings"),
        (
            {"z": "a\x00"},
            "output.z is a string with a NUL character (\\u0000), which the store cannot hold",
        ),
        ({"z": "\ud800"}, "output.z is a string with an unpaired surrogate, not valid UTF-8"),
        (
            {"k\x00": 1},
            "output has a key 'k\\x00' that is a string with a NUL character (\\u0000), "
            "which the store cannot hold",
        ),
        ({"i": 2**64}, "output.i is an integer beyond 64 bits, which JSON storage cannot hold"),
        (
            {"i": -(2**63) - 1},
            "output.i is an integer beyond 64 bits, which JSON storage cannot hold",
        ),
        ({"o": object()}, "output.o is of type object, which JSON cannot represent"),
        (
            nested(MAX_DEPTH + 1),
            "output" + ".k" * 37 + "... is nested more than 100 levels deep",
        ),
    ],
)
def test_values_json_cannot_hold_are_named(value: Any, problem: str) -> None:
    assert json_problem(value) == problem


def test_path_prefix() -> None:
    assert json_problem({"x": b""}, "definition") == (
        "definition.x is of type bytes, which JSON cannot represent"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("A.x", 1),
        ("A.items.1", "b"),
        ("A.items.-1", "b"),
        ("A.items.5", None),
        ("A.missing.deeper", None),
        ("B", None),
        ("A.x.y", None),
    ],
)
def test_resolve_path(path: str, expected: Any) -> None:
    data = {"A": {"x": 1, "items": ["a", "b"]}}
    assert resolve_path(data, path) == expected
