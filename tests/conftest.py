"""Shared fixtures: real stores (SQLite files, PostgreSQL when configured) and a real
HTTP server on loopback, so tests exercise what users run.

Set ``SPURLINE_TEST_POSTGRES_URL`` (``.ci/run`` does) to run every ``backend``-
parametrised test on PostgreSQL as well as SQLite. With ``SPURLINE_TEST_REDIS_URL``
set too, every test of the live ``server`` also runs against the scale-out
deployment: PostgreSQL, ``SPURLINE_EXECUTOR=celery``, and a Celery worker.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from _celery import REDIS_URL, celery_consumer, stop_celery_consumer
from spurline.api.app import create_app
from spurline.nodes._sandbox import shutdown_default_pool
from spurline.settings import Settings

POSTGRES_URL = os.environ.get("SPURLINE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]
DEPLOYMENTS = [*BACKENDS, *(["postgres+celery"] if POSTGRES_URL and REDIS_URL else [])]


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Undo what a test's in-process command did to logging (``--log-level`` adds a
    handler on the stream pytest captured for that test): a later test's log line
    would go to that closed stream and print a "Logging error" traceback."""
    manager = logging.Logger.manager
    before = {
        name: (list(lg.handlers), lg.level, lg.propagate)
        for name, lg in [("", logging.getLogger()), *manager.loggerDict.items()]
        if isinstance(lg, logging.Logger)
    }
    yield
    for name, lg in [("", logging.getLogger()), *manager.loggerDict.items()]:
        if not isinstance(lg, logging.Logger):
            continue
        handlers, level, propagate = before.get(name, ([], logging.NOTSET, True))
        for handler in [h for h in lg.handlers if h not in handlers]:
            lg.removeHandler(handler)
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.fixture(scope="session", autouse=True)
def _python_pool() -> Iterator[None]:
    yield
    shutdown_default_pool()


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_postgres_database() -> tuple[str, Callable[[], None]]:
    """A new empty PostgreSQL database; returns its URL and a function that drops it."""
    assert POSTGRES_URL
    name = f"spurline_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def make_settings(
    home: Path, backend: str = "sqlite", **overrides: Any
) -> tuple[Settings, Callable[[], None]]:
    """Settings for a fresh store of ``backend`` under ``home``, and a clean-up function.

    ``postgres+celery`` is PostgreSQL with the Celery executor sending to the
    session's in-process worker (see :func:`serving`, which plugs the store in).
    """
    store, _, executor = backend.partition("+")
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    url = None
    if store == "postgres":
        url, cleanup = fresh_postgres_database()
    if executor == "celery":
        overrides = {**celery_consumer().options(), **overrides}
    settings = Settings(home=home, database_url=url, **overrides)
    return settings, cleanup


class LiveServer:
    """A real uvicorn server in a thread, serving ``create_app(settings)`` on loopback."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def runtime(self) -> Any:
        """The server's Runtime (for assertions on the store)."""
        return self.app.state.runtime


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``backend``: every store backend, and for tests of a live ``server``
    the Celery deployment too. A test's own ``parametrize("backend", ...)`` wins."""
    if "backend" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        names = names.split(",") if isinstance(names, str) else names
        if "backend" in [n.strip() for n in names]:
            return
    metafunc.parametrize("backend", DEPLOYMENTS if "server" in metafunc.fixturenames else BACKENDS)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Each store backend available: ``sqlite`` always, ``postgres`` when configured;
    for live-server tests also ``postgres+celery`` (runs go through Redis to a Celery
    worker) when ``SPURLINE_TEST_REDIS_URL`` is set too."""
    return str(request.param)


@pytest.fixture(scope="session", autouse=True)
def _stop_celery_consumer() -> Iterator[None]:
    yield
    stop_celery_consumer()


@contextmanager
def serving(home: Path, backend: str, **overrides: Any) -> Iterator[LiveServer]:
    """A live server on a fresh store of ``backend`` under ``home`` (with the Celery
    worker serving it for ``postgres+celery``); the store is dropped afterwards.
    ``overrides`` are settings (``auth="required"`` ...)."""
    settings, cleanup = make_settings(home, backend, **overrides)
    try:
        with LiveServer(settings) as srv:
            if settings.executor == "celery":
                with celery_consumer().serving(settings):
                    yield srv
            else:
                yield srv
    finally:
        cleanup()


@pytest.fixture
def server(tmp_path: Path, backend: str) -> Iterator[LiveServer]:
    """A fresh store and a live server (plus its worker, for Celery) for one test."""
    with serving(tmp_path, backend) as srv:
        yield srv


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client for the live server."""
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture
def make_workflow(client: httpx.Client) -> Callable[..., str]:
    """Factory: create a workflow from a definition through the API; returns its id."""

    def make(definition: dict[str, Any], name: str = "test workflow") -> str:
        r = client.post("/wf/", json={"name": name, "description": "", "definition": definition})
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])

    return make


# -- the command line ------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


class Cli:
    """The ``spurline`` console script as a user runs it: a subprocess on a given store.

    Calling it runs ``spurline *args`` from the repository root and returns the
    completed process (text stdout/stderr, exit status).
    """

    def __init__(self, settings: Settings) -> None:
        exe = Path(sys.executable).with_name("spurline")
        self.argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "spurline"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPURLINE_")}
        # Byte-code caching on, as for users; wide tables so cells are not cut.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(SPURLINE_HOME=str(settings.home), COLUMNS="200")
        if settings.database_url:
            env["SPURLINE_DATABASE_URL"] = settings.database_url
        self.env = env

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, *args],
            env=self.env,
            cwd=REPO,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI on a fresh SQLite store in ``tmp_path`` (use ``Cli(server.settings)`` to
    share a live server's store)."""
    return Cli(Settings(home=tmp_path))


@pytest.fixture
def server_cli(server: LiveServer) -> Cli:
    """The CLI on the same store as the live ``server`` (SQLite file or PostgreSQL)."""
    return Cli(server.settings)


# -- the fake LLM provider -------------------------------------------------------------


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fake OpenAI-compatible provider on loopback; every provider prefix points at it
    (``OPENAI_BASE_URL`` as the SDK reads it, and each provider's base-URL variable)."""
    from _fake_llm import FakeLLM

    with FakeLLM() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789")
        monkeypatch.setenv("OLLAMA_BASE_URL", fake.url)
        for var in ("ANTHROPIC_BASE_URL", "GEMINI_BASE_URL"):
            monkeypatch.setenv(var, fake.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-anthropic")
        monkeypatch.setenv("GEMINI_API_KEY", "test-gemini")
        yield fake
