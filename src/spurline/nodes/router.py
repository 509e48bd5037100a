"""RouterNode: sends its input down the routes whose conditions hold
(docs/runs-api.md#workflow-definitions).

Routes are checked in ``route_map`` order. Every route whose conditions hold is
taken; a route with no conditions is the default, taken only when no other route
is. A link out of a router carries the route name in ``source_handle`` and
delivers that route's payload: the router's input (the single predecessor's
output, or ``{title: output}`` with several).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from spurline.engine.jsonvalue import resolve_path
from spurline.nodes.base import BaseNode, NodeConfig, NodeContext

Operator = Literal[
    "contains",
    "equals",
    "number_equals",
    "greater_than",
    "less_than",
    "starts_with",
    "not_starts_with",
    "is_empty",
    "is_not_empty",
]


class Condition(BaseModel):
    """One test: ``variable`` is a path ``"Title.field"`` into the router's inputs."""

    model_config = ConfigDict(extra="allow")

    variable: str = Field(min_length=1)
    operator: Operator
    value: Any = None
    logicalOperator: Literal["AND", "OR"] = "AND"


class Route(BaseModel):
    """Conditions joined left to right by each one's ``logicalOperator``."""

    model_config = ConfigDict(extra="allow")

    conditions: list[Condition] = Field(default_factory=list)


class RouterConfig(NodeConfig):
    """``route_map``: route name -> route."""

    route_map: dict[str, Route] = Field(min_length=1)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _is_empty(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, list | dict) and not v)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "is_empty":
        return _is_empty(left)
    if op == "is_not_empty":
        return not _is_empty(left)
    if op in ("number_equals", "greater_than", "less_than"):
        a, b = _number(left), _number(right)
        if a is None or b is None:
            return False
        return {"number_equals": a == b, "greater_than": a > b, "less_than": a < b}[op]
    if left is None:
        return False
    if op == "equals":
        return bool(left == right or str(left) == str(right))
    if op == "contains":
        return right in left if isinstance(left, list | dict) else str(right) in str(left)
    starts = str(left).startswith(str(right))
    return starts if op == "starts_with" else not starts


def route_holds(route: Route, inputs: dict[str, Any]) -> bool:
    """Evaluate ``route``'s conditions against ``inputs``, left to right."""
    result: bool | None = None
    for cond in route.conditions:
        ok = _compare(cond.operator, resolve_path(inputs, cond.variable), cond.value)
        if result is None:
            result = ok
        elif cond.logicalOperator == "OR":
            result = result or ok
        else:
            result = result and ok
    return bool(result)


class RouterNode(BaseNode):
    """Outputs ``{route: payload}`` for each route taken."""

    node_type = "RouterNode"
    config_model = RouterConfig
    config: RouterConfig

    @classmethod
    def link_problem(cls, node: Any, link: Any) -> str | None:
        routes = node.config.get("route_map") or {}
        if not link.source_handle:
            return f"a link out of router {node.id!r} must name a route in source_handle"
        if isinstance(routes, dict) and link.source_handle not in routes:
            known = ", ".join(map(str, routes)) or "none"
            return f"route {link.source_handle!r} is not in {node.id!r}'s route_map ({known})"
        return None

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        payload = next(iter(inputs.values())) if len(inputs) == 1 else dict(inputs)
        taken = [
            name
            for name, route in self.config.route_map.items()
            if route.conditions and route_holds(route, inputs)
        ]
        if not taken:
            taken = [name for name, route in self.config.route_map.items() if not route.conditions]
        return {name: payload for name in taken}

    def routes_taken(self, output: dict[str, Any]) -> set[str] | None:
        return set(output)

    def link_payload(self, output: dict[str, Any], link: Any) -> Any:
        return output.get(link.source_handle)
