"""Workflow definitions the scenarios run, with the output each run must return.

Every expected value is computed from the inputs, so a wrong or partial run is a
failure and never a fast result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Expect = Callable[[int], dict[str, Any]]


def _input() -> dict[str, Any]:
    return {
        "id": "input_node",
        "title": "input_node",
        "node_type": "InputNode",
        "config": {"output_schema": {"v": "integer"}},
    }


def _python(nid: str, code: str) -> dict[str, Any]:
    return {"id": nid, "title": nid, "node_type": "PythonFuncNode", "config": {"code": code}}


def _static(nid: str, v: int) -> dict[str, Any]:
    return {"id": nid, "title": nid, "node_type": "StaticValueNode", "config": {"values": {"v": v}}}


def _output(output_map: dict[str, str]) -> dict[str, Any]:
    return {
        "id": "output_node",
        "title": "output_node",
        "node_type": "OutputNode",
        "config": {"output_map": output_map},
    }


ADD_ONE = "d = input_model.model_dump()\nprev = list(d.values())[0]\nreturn {'v': prev['v'] + 1}"


def chain(n: int, kind: str) -> tuple[dict[str, Any], Expect]:
    """Input -> ``n`` nodes in a line -> Output.

    ``kind``: ``python`` (each adds 1: output v0 + n), ``static`` (node i outputs
    ``{"v": i}``: output n - 1), or ``static_merge`` (StaticValue and MergeNode
    alternate; output ``{"v": ...}`` of the last static node).
    """
    nodes = [_input()]
    links = []
    prev = "input_node"
    last_static = None
    for i in range(n):
        nid = f"c{i}"
        if kind == "python":
            nodes.append(_python(nid, ADD_ONE))
        elif kind == "static_merge" and i % 2 == 1:
            nodes.append({"id": nid, "title": nid, "node_type": "MergeNode", "config": {}})
        else:
            nodes.append(_static(nid, i))
            last_static = i
        links.append({"source_id": prev, "target_id": nid})
        prev = nid
    nodes.append(_output({"v": f"{prev}.v"} if kind != "static_merge" or n % 2 == 1 else {}))
    links.append({"source_id": prev, "target_id": "output_node"})
    definition = {"nodes": nodes, "links": links}
    if kind == "python":
        return definition, lambda v0: {"v": v0 + n}
    if kind == "static":
        return definition, lambda v0: {"v": n - 1}
    # static_merge ending in a MergeNode outputs {title_of_static: {"v": i}} merged by Output
    if n % 2 == 0:
        return definition, lambda v0: {f"c{last_static}": {"v": last_static}}
    return definition, lambda v0: {"v": last_static}


def _fan(
    w: int, branch: Callable[[str, int], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Nodes and links of Input -> ``w`` branches ``b0``.. (``branch(id, i)``) -> ``merge``."""
    nodes = [_input()]
    links = []
    for i in range(w):
        nid = f"b{i}"
        nodes.append(branch(nid, i))
        links += [
            {"source_id": "input_node", "target_id": nid},
            {"source_id": nid, "target_id": "merge"},
        ]
    nodes.append({"id": "merge", "title": "merge", "node_type": "MergeNode", "config": {}})
    return nodes, links


def fanout(w: int) -> tuple[dict[str, Any], Expect]:
    """Input -> ``w`` python branches (branch i adds i) -> Merge -> python join -> Output."""
    add = "d = input_model.model_dump()\nreturn {{'v': list(d.values())[0]['v'] + {i}}}"
    nodes, links = _fan(w, lambda nid, i: _python(nid, add.format(i=i)))
    join = (
        "m = list(input_model.model_dump().values())[0]\n"
        "return {'total': sum(x['v'] for x in m.values()), 'n': len(m)}"
    )
    nodes.append(_python("join", join))
    nodes.append(_output({"total": "join.total", "n": "join.n"}))
    links += [
        {"source_id": "merge", "target_id": "join"},
        {"source_id": "join", "target_id": "output_node"},
    ]
    return {"nodes": nodes, "links": links}, lambda v0: {
        "total": w * v0 + w * (w - 1) // 2,
        "n": w,
    }


def static_fanout(w: int) -> tuple[dict[str, Any], Expect]:
    """Input -> ``w`` StaticValueNodes in parallel (branch i outputs ``{"v": i}``) ->
    Merge -> Output (empty output map); the output is every branch's value by title.
    """
    nodes, links = _fan(w, _static)
    nodes.append(_output({}))
    links.append({"source_id": "merge", "target_id": "output_node"})
    want = {f"b{i}": {"v": i} for i in range(w)}
    return {"nodes": nodes, "links": links}, lambda v0: want
