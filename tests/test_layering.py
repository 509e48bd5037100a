"""The engine is pure (STYLE "Layout"): importing it loads no SQLAlchemy, FastAPI,
Celery, nor Spurline's store, api, cli or worker packages. Checked in a fresh
interpreter, so what other tests imported does not hide a violation.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import spurline.engine

FORBIDDEN = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "celery",
    "kombu",
    "spurline.store",
    "spurline.api",
    "spurline.cli",
    "spurline.worker",
    "spurline.runtime",
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
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_engine_has_modules() -> None:
    assert "spurline.engine.executor" in ENGINE_MODULES
    assert "spurline.engine.views" in ENGINE_MODULES


def test_engine_imports_no_outer_layer() -> None:
    # One interpreter importing every engine module: what none of them loads together,
    # none loads alone either.
    loaded = loaded_after_import(", ".join(["spurline.engine", *ENGINE_MODULES]))
    assert set(ENGINE_MODULES) <= set(loaded)
    assert forbidden_in(loaded) == []


def test_the_check_would_notice_a_violation() -> None:
    loaded = ["json", "spurline.engine", "sqlalchemy.orm", "spurline.store.db", "celery"]
    assert forbidden_in(loaded) == ["sqlalchemy.orm", "spurline.store.db", "celery"]
