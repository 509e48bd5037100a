"""A workflow version made ready to execute: its DAG and one node instance per node."""

from __future__ import annotations

from dataclasses import dataclass

from spurline.engine.definition import WorkflowDefinition
from spurline.engine.graph import Graph
from spurline.engine.nodetype import Node, NodeTypes
from spurline.engine.records import VersionRecord
from spurline.engine.scopes import decode_scope, resolve
from spurline.exceptions import DefinitionInvalid


@dataclass(frozen=True)
class Plan:
    """Executable form of one version's top level.

    Attributes:
        version_id: the version this plan executes.
        definition: the parsed definition.
        graph: the top-level DAG.
        nodes: node id -> node instance, for top-level nodes.
        input_node_id: the id of the top-level InputNode.
        scope: the body this plan executes (None: the top level).
    """

    version_id: str
    definition: WorkflowDefinition
    graph: Graph
    nodes: dict[str, Node]
    input_node_id: str
    scope: str | None = None

    @classmethod
    def of(cls, version: VersionRecord, node_types: NodeTypes, scope: str | None = None) -> Plan:
        """Build the plan of the version's top level, or of the body ``scope`` names
        (:mod:`spurline.engine.scopes`); the definition was validated when stored.

        Raises:
            DefinitionInvalid: a node's ``node_type`` is not in ``node_types``.
        """
        definition = WorkflowDefinition.model_validate(version.definition)
        if scope:
            definition = resolve(definition, decode_scope(scope))
        graph = Graph.of(definition)
        nodes: dict[str, Node] = {}
        for nid, node in graph.nodes.items():
            node_cls = node_types.get(node.node_type)
            if node_cls is None:
                problem = {"path": ("node_type",), "msg": f"unknown node_type {node.node_type!r}"}
                raise DefinitionInvalid([problem])
            nodes[nid] = node_cls.build(node)
        input_id = next(nid for nid in graph.order if graph.nodes[nid].node_type == "InputNode")
        return cls(version.id, definition, graph, nodes, input_id, scope)

    def title(self, node_id: str) -> str:
        """The title of a top-level node."""
        return self.graph.nodes[node_id].title
