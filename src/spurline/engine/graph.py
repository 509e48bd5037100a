"""The DAG of one scope of a definition: topological order, predecessors, successors.

A scope is the top level (``parent_id is None``) or the body of one loop or
sub-workflow node. Ties in topological order follow the order of ``nodes``
(docs/runs-api.md#run).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from spurline.engine.definition import LinkDef, NodeDef, WorkflowDefinition


@dataclass(frozen=True)
class Graph:
    """One scope's DAG.

    Attributes:
        nodes: node id -> node, for the scope's nodes.
        order: node ids in topological order, ties by definition order.
        incoming: node id -> links into it, in definition order.
        outgoing: node id -> links out of it.
    """

    nodes: dict[str, NodeDef]
    order: list[str]
    incoming: dict[str, list[LinkDef]] = field(default_factory=dict)
    outgoing: dict[str, list[LinkDef]] = field(default_factory=dict)

    @classmethod
    def of(cls, definition: WorkflowDefinition, scope: str | None = None) -> Graph:
        """Build the graph of ``scope`` (None: top level). The definition must be acyclic."""
        nodes = {n.id: n for n in definition.members(scope)}
        incoming: dict[str, list[LinkDef]] = {nid: [] for nid in nodes}
        outgoing: dict[str, list[LinkDef]] = {nid: [] for nid in nodes}
        for link in definition.links:
            if link.source_id in nodes and link.target_id in nodes:
                incoming[link.target_id].append(link)
                outgoing[link.source_id].append(link)
        order = _toposort(list(nodes), incoming, outgoing)
        return cls(nodes=nodes, order=order, incoming=incoming, outgoing=outgoing)

    def predecessors(self, node_id: str) -> list[str]:
        """Distinct source ids of the links into ``node_id``, in link order."""
        return list(dict.fromkeys(link.source_id for link in self.incoming[node_id]))

    def successors(self, node_id: str) -> list[str]:
        """Distinct target ids of the links out of ``node_id``, in link order."""
        return list(dict.fromkeys(link.target_id for link in self.outgoing[node_id]))

    def downstream(self, roots: set[str]) -> set[str]:
        """Every node reachable from ``roots`` (roots excluded)."""
        seen: set[str] = set()
        stack = [s for r in roots for s in self.successors(r)]
        while stack:
            nid = stack.pop()
            if nid not in seen:
                seen.add(nid)
                stack.extend(self.successors(nid))
        return seen


def _toposort(
    ids: list[str], incoming: dict[str, list[LinkDef]], outgoing: dict[str, list[LinkDef]]
) -> list[str]:
    rank = {nid: i for i, nid in enumerate(ids)}
    indeg = {nid: len({link.source_id for link in incoming[nid]}) for nid in ids}
    heap = [rank[nid] for nid in ids if indeg[nid] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        nid = ids[heapq.heappop(heap)]
        order.append(nid)
        for succ in dict.fromkeys(link.target_id for link in outgoing[nid]):
            indeg[succ] -= 1
            if indeg[succ] == 0:
                heapq.heappush(heap, rank[succ])
    return order


def cycle_nodes(definition: WorkflowDefinition) -> list[str]:
    """Ids of nodes on or behind a cycle, in definition order; ``[]`` for a DAG."""
    ids = [n.id for n in definition.nodes]
    known = set(ids)
    incoming: dict[str, list[LinkDef]] = {nid: [] for nid in ids}
    outgoing: dict[str, list[LinkDef]] = {nid: [] for nid in ids}
    for link in definition.links:
        if link.source_id in known and link.target_id in known:
            incoming[link.target_id].append(link)
            outgoing[link.source_id].append(link)
    done = set(_toposort(list(dict.fromkeys(ids)), incoming, outgoing))
    return [nid for nid in dict.fromkeys(ids) if nid not in done]
