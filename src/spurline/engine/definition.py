"""Workflow definitions: the PySpur-compatible JSON schema and its validation
(docs/runs-api.md#workflow-definitions).

``parse_definition`` checks structure when the workflow is created, not mid-run, and
collects every problem before raising, each naming the node or link it concerns.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from spurline.exceptions import DefinitionInvalid

if TYPE_CHECKING:
    from spurline.engine.nodetype import NodeTypes

Problem = dict[str, Any]


class NodeDef(BaseModel):
    """One node of a definition; unknown keys PySpur writes are kept."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    title: str = ""
    node_type: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None
    coordinates: dict[str, Any] | None = None
    dimensions: dict[str, Any] | None = None
    subworkflow: dict[str, Any] | None = None

    def model_post_init(self, context: Any, /) -> None:
        if not self.title:
            self.title = self.id


class LinkDef(BaseModel):
    """A directed edge ``source_id -> target_id``; routers name the route in ``source_handle``."""

    model_config = ConfigDict(extra="allow")

    source_id: str = Field(min_length=1)
    target_id: str = Field(min_length=1)
    source_handle: str | None = None
    target_handle: str | None = None


class WorkflowDefinition(BaseModel):
    """A whole definition: ``{nodes: [...], links: [...]}`` plus any extra keys."""

    model_config = ConfigDict(extra="allow")

    nodes: list[NodeDef]
    links: list[LinkDef] = Field(default_factory=list)
    # Indexes built on first use, so that checks over every node stay linear in the
    # definition's size (docs/reliability.md#validation-and-bad-input). A definition is
    # not changed once parsed; code that builds one builds a new object.
    _by_id: dict[str, NodeDef] | None = PrivateAttr(default=None)
    _by_parent: dict[str | None, list[NodeDef]] | None = PrivateAttr(default=None)

    def node(self, node_id: str) -> NodeDef:
        """The node with ``node_id`` (the first, when ids repeat); ``KeyError`` when absent."""
        if self._by_id is None:
            by_id: dict[str, NodeDef] = {}
            for n in self.nodes:
                by_id.setdefault(n.id, n)
            self._by_id = by_id
        return self._by_id[node_id]

    def members(self, parent_id: str | None) -> list[NodeDef]:
        """The nodes whose ``parent_id`` is ``parent_id`` (None: the top level), in
        definition order."""
        if self._by_parent is None:
            by_parent: dict[str | None, list[NodeDef]] = {}
            for n in self.nodes:
                by_parent.setdefault(n.parent_id, []).append(n)
            self._by_parent = by_parent
        return self._by_parent.get(parent_id, [])

    def dump(self) -> dict[str, Any]:
        """The definition as plain JSON data, as stored and served."""
        return self.model_dump(mode="json", exclude_none=True)


def canonical_json(definition: dict[str, Any]) -> bytes:
    """Canonical bytes of a definition: sorted keys, no whitespace."""
    return orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)


def definition_hash(definition: dict[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON (docs/runs-api.md#words)."""
    return hashlib.sha256(canonical_json(definition)).hexdigest()


def _pydantic_problems(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[Problem]:
    return [
        {"path": (*prefix, *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
    ]


def parse_definition(raw: Any, node_types: NodeTypes) -> WorkflowDefinition:
    """Validate ``raw`` and return the parsed definition (the rules: docs/runs-api.md,
    "Workflow definitions").

    Args:
        raw: the JSON definition ``{"nodes": [...], "links": [...]}``.
        node_types: the node registry; each node's ``config`` is checked by its type.

    Raises:
        DefinitionInvalid: with ``problems`` listing every problem found, each a dict
            ``{path, msg, type}`` plus ``node_id`` or ``link`` when one is concerned.
    """
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionInvalid(_pydantic_problems(exc, ("definition",))) from exc
    problems = _structure_problems(definition, node_types)
    # The cycle check uses only links whose ends exist, so it is reported alongside
    # every other problem; a self-link was already reported as a cycle by itself.
    if not any(p["type"] == "cycle" for p in problems):
        from spurline.engine.graph import cycle_nodes

        cyc = cycle_nodes(definition)
        if cyc:
            problems.append(
                {
                    "path": ("definition", "links"),
                    "msg": f"the links form a cycle through nodes {', '.join(cyc)}",
                    "type": "cycle",
                    "node_ids": cyc,
                }
            )
    if problems:
        raise DefinitionInvalid(problems)
    return definition


def parse_draft(raw: Any) -> WorkflowDefinition:
    """Parse ``raw`` as a draft: its shape only (nodes and links with their ids); the
    rules of :func:`parse_definition` are checked when a run starts (docs/pyspur.md).

    Raises:
        DefinitionInvalid: the definition is not even shaped as one.
    """
    try:
        return WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionInvalid(_pydantic_problems(exc, ("definition",))) from exc


def _structure_problems(d: WorkflowDefinition, node_types: NodeTypes) -> list[Problem]:
    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    seen_titles: dict[str, int] = {}
    for i, n in enumerate(d.nodes):
        at = ("definition", "nodes", i)
        if n.id in seen_ids:
            problems.append(_p((*at, "id"), f"duplicate node id {n.id!r}", "duplicate_id", n.id))
        seen_ids.setdefault(n.id, i)
        if n.title in seen_titles:
            msg = f"duplicate node title {n.title!r} (node {n.id!r})"
            problems.append(_p((*at, "title"), msg, "duplicate_title", n.id))
        seen_titles.setdefault(n.title, i)
        if not n.title.isidentifier():
            msg = f"node {n.id!r}: title {n.title!r} is not a valid identifier"
            problems.append(_p((*at, "title"), msg, "bad_title", n.id))
        cls = node_types.get(n.node_type)
        if cls is None:
            msg = f"node {n.id!r}: unknown node_type {n.node_type!r}"
            problems.append(_p((*at, "node_type"), msg, "unknown_node_type", n.id))
            continue
        for prob in cls.config_problems(n, d):
            problems.append({**prob, "path": (*at, *prob["path"]), "node_id": n.id})
    for i, n in enumerate(d.nodes):
        if n.parent_id is not None and n.parent_id not in seen_ids:
            msg = f"node {n.id!r}: parent_id {n.parent_id!r} is not a node"
            problems.append(_p(("definition", "nodes", i, "parent_id"), msg, "bad_parent", n.id))
    problems += _io_problems(d)
    problems += _link_problems(d, seen_ids, node_types)
    return problems


def _io_problems(d: WorkflowDefinition) -> list[Problem]:
    problems: list[Problem] = []
    top = d.members(None)
    inputs = [n.id for n in top if n.node_type == "InputNode"]
    outputs = [n.id for n in top if n.node_type == "OutputNode"]
    if len(inputs) != 1:
        found = f"found {len(inputs)}" + (f": {', '.join(inputs)}" if inputs else "")
        msg = f"a workflow needs exactly one top-level InputNode, {found}"
        problems.append({"path": ("definition", "nodes"), "msg": msg, "type": "input_count"})
    if len(outputs) > 1:
        msg = f"a workflow has at most one top-level OutputNode, found {', '.join(outputs)}"
        problems.append({"path": ("definition", "nodes"), "msg": msg, "type": "output_count"})
    return problems


def _link_problems(
    d: WorkflowDefinition, ids: dict[str, int], node_types: NodeTypes
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str, str | None]] = set()
    for i, link in enumerate(d.links):
        at = ("definition", "links", i)
        where = f"link {i} ({link.source_id} -> {link.target_id})"
        ends_ok = True
        for end in ("source_id", "target_id"):
            if getattr(link, end) not in ids:
                msg = f"{where}: {end} {getattr(link, end)!r} is not a node"
                problems.append({"path": (*at, end), "msg": msg, "type": "dangling_link"})
                ends_ok = False
        if not ends_ok:
            continue
        if link.source_id == link.target_id:
            msg = f"{where}: a node cannot link to itself"
            problems.append({"path": at, "msg": msg, "type": "cycle"})
        key = (link.source_id, link.target_id, link.source_handle)
        if key in seen:
            problems.append({"path": at, "msg": f"{where}: duplicate link", "type": "duplicate"})
        seen.add(key)
        src, dst = d.nodes[ids[link.source_id]], d.nodes[ids[link.target_id]]
        if src.parent_id != dst.parent_id:
            msg = f"{where}: links must join nodes of the same body (parent_id)"
            problems.append({"path": at, "msg": msg, "type": "cross_scope_link"})
        cls = node_types.get(src.node_type)
        if cls is not None:
            msg_or_none = cls.link_problem(src, link)
            if msg_or_none:
                problems.append({"path": at, "msg": f"{where}: {msg_or_none}", "type": "link"})
    return problems


def _p(path: tuple[Any, ...], msg: str, typ: str, node_id: str) -> Problem:
    return {"path": path, "msg": msg, "type": typ, "node_id": node_id}
