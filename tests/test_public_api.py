"""The public API of ``import spurline`` is pinned: changing it is a deliberate act."""

from __future__ import annotations

import subprocess
import sys

import spurline
from spurline.engine.definition import WorkflowDefinition
from spurline.engine.states import RunStatus, TaskStatus
from spurline.nodes.registry import parse_definition


def test_all_is_pinned() -> None:
    assert sorted(spurline.__all__) == [
        "RunStatus",
        "TaskStatus",
        "WorkflowDefinition",
        "__version__",
        "create_app",
        "parse_definition",
    ]


def test_every_public_name_resolves_to_the_real_object() -> None:
    from spurline.api.app import create_app

    assert spurline.RunStatus is RunStatus
    assert spurline.TaskStatus is TaskStatus
    assert spurline.WorkflowDefinition is WorkflowDefinition
    assert spurline.parse_definition is parse_definition
    assert spurline.create_app is create_app
    assert spurline.__version__ == "0.1.0"


def test_unknown_attribute_raises() -> None:
    try:
        spurline.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert str(exc) == "no_such_name"
    else:
        raise AssertionError("spurline.no_such_name resolved")


def test_import_spurline_is_light() -> None:
    code = (
        "import sys, spurline; "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('spurline', 'fastapi', 'sqlalchemy'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['spurline', 'spurline._version']"
