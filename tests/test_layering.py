"""The layer rules of docs/architecture.md, checked two ways:

- statically: every ``import`` in ``src/spurline`` (also those inside functions and
  ``TYPE_CHECKING`` blocks) read with :mod:`ast`, folded into a graph of Spurline's
  units (each subpackage, and each top-level module), checked against the rules and
  for cycles;
- at run time: importing every engine module in a fresh interpreter loads no
  SQLAlchemy, FastAPI, Celery, nor an outer Spurline layer (what other tests imported
  cannot hide a violation).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import spurline
import spurline.engine

SRC = Path(spurline.__file__).resolve().parent
OUTER = ("api", "cli", "worker", "runtime", "scaleout")
WEB_DB_QUEUE = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "celery", "kombu")

#: unit -> units (or third-party top-level packages) it must not import.
FORBIDDEN_UNITS: dict[str, tuple[str, ...]] = {
    "engine": ("store", "services", "nodes", *OUTER, *WEB_DB_QUEUE),
    "nodes": ("store", "services", *OUTER, "fastapi", "starlette", "celery"),
    "store": ("services", "nodes", *OUTER, "fastapi", "starlette", "celery"),
    "services": ("api", "cli", "worker", "runtime", "fastapi", "starlette"),
    "scaleout": ("api", "cli", "worker", "runtime", "services"),
    "api": ("cli", "worker"),
    "worker": ("api", "cli"),
    "cli": ("worker", "api"),
}
#: Modules of the engine a node type may use: its public interface, not its internals.
ENGINE_INTERFACE = {
    "spurline.engine",
    "spurline.engine.nodetype",
    "spurline.engine.definition",
    "spurline.engine.children",
    "spurline.engine.jsonvalue",
    "spurline.engine.states",
    # what node code writes goes to its attempt's log (docs/observability.md)
    "spurline.engine.logcap",
}
#: The composition root, and the entry points that alone may import it.
ROOT = "runtime"
ENTRY_POINTS = {"api", "cli", "worker"}
#: Edges across entry points that are launches, not dependencies: ``spurline serve``
#: and ``spurline worker`` start the server and the worker process.
LAUNCHES = {
    ("spurline.cli.main", "spurline.api.app"),
    ("spurline.cli.main", "spurline.worker.main"),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (
        SRC.parent / rel / "__init__.py"
    ).is_file()


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute, as written (submodules resolved)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if is_module(sub) else base)
    return found


def module_graph() -> dict[str, set[str]]:
    """Spurline module -> every module it imports (Spurline's and third-party)."""
    return {module_name(p): imports_of(p) for p in sorted(SRC.rglob("*.py"))}


def unit(module: str) -> str:
    """``spurline.engine.plan`` -> ``engine``; ``spurline.runtime`` -> ``runtime``;
    the facade ``spurline`` -> ``spurline``; a third-party module -> its top package."""
    parts = module.split(".")
    if parts[0] != "spurline":
        return parts[0]
    return parts[1] if len(parts) > 1 else "spurline"


def unit_graph(modules: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Edges between Spurline units only (no self-edges)."""
    graph: dict[str, set[str]] = {}
    for mod, targets in modules.items():
        src = unit(mod)
        graph.setdefault(src, set())
        for target in targets:
            if target.split(".")[0] == "spurline" and unit(target) != src:
                graph[src].add(unit(target))
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def violations(modules: Mapping[str, Iterable[str]]) -> list[str]:
    """Every import that breaks a layer rule, as ``"importer -> imported: rule"``."""
    out: list[str] = []
    for mod, targets in sorted(modules.items()):
        src = unit(mod)
        for target in sorted(targets):
            dst = unit(target)
            if dst == src or (mod, target) in LAUNCHES:
                continue
            if dst in FORBIDDEN_UNITS.get(src, ()):
                out.append(f"{mod} -> {target}: {src} must not import {dst}")
            if dst == ROOT and src not in ENTRY_POINTS:
                out.append(f"{mod} -> {target}: only entry points import the composition root")
            if target == "spurline":
                out.append(f"{mod} -> {target}: the public facade is for users, not Spurline")
            if src == "nodes" and dst == "engine" and target not in ENGINE_INTERFACE:
                out.append(f"{mod} -> {target}: a node type uses the engine's interface only")
    return out


def test_graph_is_read() -> None:
    modules = module_graph()
    assert "spurline.engine.nodetype" in modules["spurline.nodes.base"]
    assert "spurline.store.runs" in modules["spurline.services.runs"]
    # an import inside a function counts as much as one at the top
    assert "spurline.scaleout.executor" in modules["spurline.runtime"]
    units = unit_graph(modules)
    assert {"engine", "nodes", "store", "services", "api", "cli", "worker"} <= set(units)


def test_layer_rules_hold() -> None:
    assert violations(module_graph()) == []


def test_no_package_cycles() -> None:
    assert cycles(unit_graph(module_graph())) == []


def http_locs_outside_api(sources: Mapping[str, str]) -> list[str]:
    """Modules outside ``spurline.api`` that build a dict with a ``"loc"`` key: HTTP
    locations are the API's business; the rest of Spurline gives field paths."""
    found = []
    for mod, text in sorted(sources.items()):
        if mod == "spurline.api" or mod.startswith("spurline.api."):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Dict) and any(
                isinstance(k, ast.Constant) and k.value == "loc" for k in node.keys
            ):
                found.append(f"{mod}:{node.lineno}")
    return found


def test_only_the_api_builds_http_locations() -> None:
    sources = {module_name(p): p.read_text() for p in SRC.rglob("*.py")}
    assert http_locs_outside_api(sources) == []
    bad = 'def f(msg):\n    return {"loc": ["body", "x"], "msg": msg}\n'
    assert http_locs_outside_api({"spurline.services.runs": bad, "spurline.api.app": bad}) == [
        "spurline.services.runs:2"
    ]


def test_the_rules_would_notice_violations() -> None:
    bad = {
        "spurline.engine.executor": {"spurline.nodes.base", "sqlalchemy"},
        "spurline.services.runs": {"spurline.runtime", "spurline.api.app"},
        "spurline.nodes.io": {"spurline.engine.executor", "spurline.engine.definition"},
        "spurline.api.app": {"spurline", "spurline.runtime"},
        "spurline.cli.main": {"spurline.api.app", "spurline.api.routes.runs"},
    }
    assert violations(bad) == [
        "spurline.api.app -> spurline: the public facade is for users, not Spurline",
        "spurline.cli.main -> spurline.api.routes.runs: cli must not import api",
        "spurline.engine.executor -> spurline.nodes.base: engine must not import nodes",
        "spurline.engine.executor -> sqlalchemy: engine must not import sqlalchemy",
        "spurline.nodes.io -> spurline.engine.executor: a node type uses the engine's "
        "interface only",
        "spurline.services.runs -> spurline.api.app: services must not import api",
        "spurline.services.runs -> spurline.runtime: services must not import runtime",
        "spurline.services.runs -> spurline.runtime: only entry points import the composition root",
    ]


def test_the_cycle_check_would_notice_a_cycle() -> None:
    modules = {
        "spurline.engine.plan": {"spurline.exceptions"},
        "spurline.store.runs": {"spurline.engine.plan"},
        "spurline.services.runs": {"spurline.store.runs"},
        # the package circle of round one: engine -> nodes -> engine
        "spurline.engine.executor": {"spurline.nodes.base"},
        "spurline.nodes.base": {"spurline.engine.definition"},
    }
    assert cycles(unit_graph(modules)) == [["engine", "nodes"]]
    del modules["spurline.engine.executor"]
    assert cycles(unit_graph(modules)) == []
    # a longer circle through three units is one component
    ring = {"spurline.a.x": {"spurline.b.y"}, "spurline.b.y": {"spurline.c.z"}}
    ring["spurline.c.z"] = {"spurline.a.x"}
    assert cycles(unit_graph(ring)) == [["a", "b", "c"]]


# -- the engine at run time ---------------------------------------------------------
FORBIDDEN_LOADED = (
    *WEB_DB_QUEUE,
    *(f"spurline.{u}" for u in ("store", "api", "cli", "worker", "runtime", "services")),
    *("spurline.nodes", "spurline.scaleout"),
)
ENGINE_MODULES = sorted(
    f"spurline.engine.{m.name}" for m in pkgutil.iter_modules(spurline.engine.__path__)
)


def loaded_after_import(module: str) -> list[str]:
    """Names in sys.modules after ``import module`` in a new interpreter."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(out.stdout))


def forbidden_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_LOADED)]


def test_engine_has_modules() -> None:
    assert "spurline.engine.executor" in ENGINE_MODULES
    assert "spurline.engine.nodetype" in ENGINE_MODULES


def test_engine_imports_no_outer_layer() -> None:
    # One interpreter importing every engine module: what none of them loads together,
    # none loads alone either.
    loaded = loaded_after_import(", ".join(["spurline.engine", *ENGINE_MODULES]))
    assert set(ENGINE_MODULES) <= set(loaded)
    assert forbidden_in(loaded) == []


def test_the_load_check_would_notice_a_violation() -> None:
    loaded = ["json", "spurline.engine", "sqlalchemy.orm", "spurline.nodes.base", "celery"]
    assert forbidden_in(loaded) == ["sqlalchemy.orm", "spurline.nodes.base", "celery"]
