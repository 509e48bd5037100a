"""The node registry: built-in node types plus plugins from the ``spurline.nodes``
entry-point group (docs/architecture.md#node-types). A plugin entry point
names a :class:`BaseNode` subclass.

The composition root hands :func:`node_types` to the engine, which knows node types
only through this mapping.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from spurline.engine.definition import WorkflowDefinition
from spurline.engine.definition import parse_definition as _parse_with
from spurline.nodes.base import BaseNode

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "spurline.nodes"


def _builtins() -> dict[str, type[BaseNode]]:
    from spurline.nodes import flow, human, io, nesting, python_func, router

    classes: list[type[BaseNode]] = [
        io.InputNode,
        io.OutputNode,
        io.StaticValueNode,
        python_func.PythonFuncNode,
        router.RouterNode,
        flow.CoalesceNode,
        flow.MergeNode,
        nesting.SubworkflowNode,
        nesting.ForLoopNode,
        human.HumanInterventionNode,
    ]
    return {c.node_type: c for c in classes}


@cache
def node_types() -> dict[str, type[BaseNode]]:
    """Every known node type name -> class; plugins cannot replace a built-in."""
    types = _builtins()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:  # a broken plugin must not take the server down
            log.exception("cannot load node plugin %s", ep.value)
            continue
        if isinstance(cls, type) and issubclass(cls, BaseNode) and cls.node_type not in types:
            types[cls.node_type] = cls
        else:
            log.warning("ignoring node plugin %s: not a new BaseNode subclass", ep.value)
    return types


def get_node_class(node_type: str) -> type[BaseNode] | None:
    """The class for ``node_type``, or None when unknown."""
    return node_types().get(node_type)


def register(cls: type[BaseNode]) -> type[BaseNode]:
    """Register ``cls`` in this process (for tests and embedding); returns ``cls``."""
    node_types()[cls.node_type] = cls
    return cls


def parse_definition(raw: Any) -> WorkflowDefinition:
    """Validate a workflow definition against every registered node type.

    See :func:`spurline.engine.definition.parse_definition` (this passes
    :func:`node_types` as the registry).

    Raises:
        DefinitionInvalid: every problem found.
    """
    return _parse_with(raw, node_types())
