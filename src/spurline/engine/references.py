"""Sub-workflow references between saved workflows, and the cycles they may form
(docs/reliability.md#bounded-nesting).

A SubworkflowNode with ``config.workflow_id`` runs another saved workflow's current
version, which may name others in turn. A workflow that reaches itself that way
would nest child runs without end, so a save that closes such a loop is refused,
naming the path of references (``'A' (W1) -> 'B' (W2) -> 'A' (W1)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

#: What a loader returns for one workflow id: its name and current definition (raw
#: JSON), or None when no such workflow exists.
Loaded = tuple[str, dict[str, Any]] | None


@dataclass(frozen=True)
class Reference:
    """One SubworkflowNode naming a saved workflow.

    Attributes:
        path: field path of the ``workflow_id`` from the top of the definition,
            through embedded sub-workflows (``("nodes", 3, "config", "workflow_id")``).
        workflow_id: the workflow it names.
    """

    path: tuple[str | int, ...]
    workflow_id: str


def references(definition: Any) -> Iterator[Reference]:
    """Every SubworkflowNode of ``definition`` (raw JSON) that names a workflow, embedded
    sub-workflows and loop bodies included, in definition order.

    Malformed parts are skipped: this runs on drafts too, whose shape rules are
    checked when a run starts.
    """
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), definition)]
    while stack:
        prefix, current = stack.pop()
        nodes = current.get("nodes") if isinstance(current, dict) else None
        if not isinstance(nodes, list):
            continue
        embedded = []
        for i, node in enumerate(nodes):
            if not isinstance(node, dict) or node.get("node_type") != "SubworkflowNode":
                continue
            config = node.get("config")
            target = config.get("workflow_id") if isinstance(config, dict) else None
            if isinstance(target, str):
                yield Reference((*prefix, "nodes", i, "config", "workflow_id"), target)
            if isinstance(node.get("subworkflow"), dict):
                embedded.append(((*prefix, "nodes", i, "subworkflow"), node["subworkflow"]))
        stack.extend(reversed(embedded))


@dataclass(frozen=True)
class ReferenceCycle:
    """A loop of references reached from a saved workflow.

    Attributes:
        path: field path, in the saved definition, of its first reference on the loop.
        chain: ``(workflow_id, name)`` from the saved workflow to the workflow that
            closes the loop, which appears twice.
    """

    path: tuple[str | int, ...]
    chain: list[tuple[str, str]]

    def message(self) -> str:
        """``'A' (W1) -> 'B' (W2) -> 'A' (W1)`` and what it would do."""
        steps = " -> ".join(f"{name!r} ({wid})" for wid, name in self.chain)
        return (
            f"sub-workflow references form a loop: {steps}; a run would nest child runs without end"
        )


def reference_cycle(
    workflow_id: str, name: str, definition: dict[str, Any], load: Callable[[str], Loaded]
) -> ReferenceCycle | None:
    """The first loop of references reachable from a workflow about to be saved.

    Args:
        workflow_id: the saved workflow's id (a fresh one for a new workflow).
        name: its name, for the message.
        definition: the definition being saved (raw JSON), used in place of what the
            store holds for ``workflow_id``.
        load: ``workflow_id -> (name, current definition)`` or None; called at most
            once per workflow, so the work is linear in the references reached.

    Returns:
        The loop, or None when the references form no loop. A reference to a
        workflow that does not exist ends its path (the run fails on it).
    """
    names = {workflow_id: name}
    edges: dict[str, list[Reference]] = {workflow_id: list(references(definition))}

    def out_of(wid: str) -> list[Reference]:
        if wid not in edges:
            loaded = load(wid)
            edges[wid] = [] if loaded is None else list(references(loaded[1]))
            if loaded is not None:
                names[wid] = loaded[0]
        return edges[wid]

    # iterative depth-first search: ``trail`` is the path being explored, ``first`` the
    # saved definition's reference it started from
    done: set[str] = set()
    on_trail: set[str] = {workflow_id}
    trail: list[tuple[str, Iterator[Reference]]] = [(workflow_id, iter(out_of(workflow_id)))]
    first: Reference | None = None
    while trail:
        wid, pending = trail[-1]
        ref = next(pending, None)
        if ref is None:
            trail.pop()
            on_trail.discard(wid)
            done.add(wid)
            continue
        if len(trail) == 1:
            first = ref
        target = ref.workflow_id
        if target in on_trail:
            assert first is not None
            chain = [(w, names.get(w, w)) for w, _ in trail] + [(target, names.get(target, target))]
            return ReferenceCycle(first.path, chain)
        if target in done:
            continue
        out_of(target)
        if target not in names:  # no such workflow: nothing to follow
            done.add(target)
            continue
        on_trail.add(target)
        trail.append((target, iter(out_of(target))))
    return None
