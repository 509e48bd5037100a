"""Spurline: a workflow engine and run-tracking service with a PySpur-compatible Runs API.

Public API (pinned by ``tests/test_public_api.py``)::

    from spurline import create_app, parse_definition, RunStatus, TaskStatus
"""

from __future__ import annotations

from typing import Any

from spurline._version import __version__

__all__ = [
    "RunStatus",
    "TaskStatus",
    "WorkflowDefinition",
    "__version__",
    "create_app",
    "parse_definition",
]


def __getattr__(name: str) -> Any:
    # Lazy, so `import spurline` stays light (worker processes import it too).
    if name == "create_app":
        from spurline.api.app import create_app

        return create_app
    if name == "parse_definition":  # with every registered node type
        from spurline.nodes.registry import parse_definition

        return parse_definition
    if name == "WorkflowDefinition":
        from spurline.engine.definition import WorkflowDefinition

        return WorkflowDefinition
    if name in ("RunStatus", "TaskStatus"):
        from spurline.engine import states

        return getattr(states, name)
    raise AttributeError(name)
