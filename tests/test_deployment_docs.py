"""docs/deployment.md lists every setting of :class:`spurline.settings.Settings` with
its environment variable and default, and no setting that does not exist."""

from __future__ import annotations

import json
import re
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from spurline.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
ROW = re.compile(r"^\| `(\w+)` \| `([A-Z0-9_]+)` \| (`[^`]+`|none|empty) \|")


def shown(value: Any) -> str:
    """A default as the doc writes it: the variable's text in backticks, ``none`` when
    unset, ``empty`` for an empty string."""
    if value is None:
        return "none"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, Enum):
        text = str(value.value)
    elif isinstance(value, str | int | float | Path):
        text = str(value)
    else:
        text = json.dumps(to_jsonable_python(value), separators=(",", ":"))
    return f"`{text}`"


def variable(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    return f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


def expected_rows() -> dict[str, tuple[str, str]]:
    """``{setting: (variable, default as shown)}`` from the settings class."""
    return {
        name: (variable(name, f), shown(f.get_default(call_default_factory=True)))
        for name, f in Settings.model_fields.items()
    }


def mismatches(markdown: str, expected: dict[str, tuple[str, str]]) -> list[str]:
    """Each setting missing from the doc's table or shown wrongly, and each row naming
    no setting."""
    rows = {
        m.group(1): (m.group(2), m.group(3)) for m in map(ROW.match, markdown.splitlines()) if m
    }
    bad = [f"{name}: not documented" for name in expected if name not in rows]
    bad += [
        f"{name}: documented as {rows[name]}, is {want}"
        for name, want in expected.items()
        if name in rows and rows[name] != want
    ]
    bad += [f"{name}: no such setting" for name in rows if name not in expected]
    return bad


def test_every_setting_is_documented_with_its_variable_and_default() -> None:
    expected = expected_rows()
    assert expected["home"] == ("SPURLINE_HOME", "`.spurline`")
    assert expected["database_url"] == ("SPURLINE_DATABASE_URL", "none")
    assert mismatches(DOC.read_text(), expected) == []


def test_the_check_notices_a_missing_stale_or_wrong_row() -> None:
    doc = (
        "| `home` | `SPURLINE_HOME` | `.spurline` | folder |\n"
        "| `lease_s` | `SPURLINE_LEASE` | `10.0` | lease |\n"
        "| `gone` | `SPURLINE_GONE` | none | removed |\n"
    )
    expected = {
        "home": ("SPURLINE_HOME", "`.spurline`"),
        "lease_s": ("SPURLINE_LEASE_S", "`10.0`"),
        "executor": ("SPURLINE_EXECUTOR", "`local`"),
    }
    assert mismatches(doc, expected) == [
        "executor: not documented",
        "lease_s: documented as ('SPURLINE_LEASE', '`10.0`'), is ('SPURLINE_LEASE_S', '`10.0`')",
        "gone: no such setting",
    ]
    assert shown(True) == "`true`" and shown(["a", "b"]) == '`["a","b"]`'
    assert shown("") == "empty" and shown(Path("x")) == "`x`"
