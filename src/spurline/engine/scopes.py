"""Bodies of loop and sub-workflow nodes as workflows of their own
(docs/runs-api.md#workflow-definitions, docs/child-runs-and-batches.md).

A child run that executes an embedded body keeps its parent's ``workflow_id`` and
``workflow_version_id`` (the body is part of that immutable version, so the version
pins it exactly) and records in ``scope`` the path of body node ids from the
version's top level down to the body it runs. For each step of the path:

* a node with an embedded ``subworkflow`` definition contributes that definition;
* any other node (a ForLoopNode) contributes the nodes whose ``parent_id`` is that
  node, made top-level, with their own nested bodies and the links among them.

The path is stored as a JSON array so node ids may hold any character.
"""

from __future__ import annotations

import orjson

from spurline.engine.definition import NodeDef, WorkflowDefinition


def encode_scope(path: list[str]) -> str | None:
    """The stored form of a body path; None for the top level (``[]``)."""
    return orjson.dumps(path).decode() if path else None


def decode_scope(scope: str | None) -> list[str]:
    """The body path stored in ``scope`` (``[]`` for None)."""
    if not scope:
        return []
    path = orjson.loads(scope)
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise ValueError(f"bad run scope {scope!r}")
    return path


def body_of(definition: WorkflowDefinition, node_id: str) -> WorkflowDefinition:
    """The body of ``node_id`` as a standalone definition (see the module docstring).

    Raises:
        KeyError: no node ``node_id`` in ``definition``.
    """
    node = definition.node(node_id)
    if node.subworkflow is not None:
        return WorkflowDefinition.model_validate(node.subworkflow)
    members = _descendants(definition, node_id)
    nodes: list[NodeDef] = []
    for n in definition.nodes:
        if n.id in members:
            copy = n.model_copy()
            if copy.parent_id == node_id:
                copy.parent_id = None
            nodes.append(copy)
    links = [
        link for link in definition.links if link.source_id in members and link.target_id in members
    ]
    return WorkflowDefinition(nodes=nodes, links=links)


def resolve(definition: WorkflowDefinition, path: list[str]) -> WorkflowDefinition:
    """The definition reached by following ``path`` from the top level."""
    for node_id in path:
        definition = body_of(definition, node_id)
    return definition


def _descendants(definition: WorkflowDefinition, node_id: str) -> set[str]:
    found: set[str] = set()
    frontier = [node_id]
    while frontier:
        nxt = [n.id for p in frontier for n in definition.members(p) if n.id not in found]
        found.update(nxt)
        frontier = nxt
    return found
