"""Provider keys kept with the secrets (docs/pyspur.md) and secrets masked in captured
logs and tracebacks (docs/security.md §6, docs/observability.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from tests.api._contract import link, node, py, start, wait_run
from tests.conftest import DEPLOYMENTS, LiveServer, celery_consumer, make_settings

from _fake_llm import FakeLLM
from spurline.services.secrets import generate_key
from spurline.settings import Settings

KEY = "sk-stored-0123456789abcdefWXYZ"
TOKEN = "tok-live-9876543210zyxwvu"


@pytest.fixture
def keyed_settings(tmp_path: Path, backend: str) -> Iterator[Settings]:
    """Settings of a fresh store with a secret key, for several servers in turn; no
    cache of decrypted values, so a worker sees a deletion at once (docs/pyspur.md)."""
    settings, cleanup = make_settings(tmp_path, backend, secret_key=generate_key(), token_cache_s=0)
    try:
        yield settings
    finally:
        cleanup()


def stored_rows(srv: LiveServer, sql: str) -> list[Any]:
    engine = create_engine(srv.runtime.db.url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def worker(settings: Settings) -> AbstractContextManager[object]:
    """The session's Celery worker serving ``settings``' store, when runs go to Celery."""
    return celery_consumer().serving(settings) if settings.executor == "celery" else nullcontext()


LLM_FLOW = {
    "nodes": [
        node("in", "InputNode", output_schema={"topic": "str"}),
        node(
            "ask",
            "SingleLLMCallNode",
            llm_info={"model": "openai/gpt-4o-mini"},
            system_message="You write about {{ in.topic }}.",
            user_message="One line.",
            output_schema={"line": "string"},
        ),
    ],
    "links": [link("in", "ask")],
}


@pytest.mark.parametrize("backend", DEPLOYMENTS)
def test_provider_key_is_stored_encrypted_survives_a_restart_and_wins_over_env(
    keyed_settings: Settings, fake_llm: FakeLLM
) -> None:
    # fake_llm also sets OPENAI_API_KEY in the environment: the stored key must win,
    # in this process and, for postgres+celery, in the Celery worker running the node
    with LiveServer(keyed_settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        r = c.post("/env-mgmt/", json={"name": "OPENAI_API_KEY", "value": KEY})
        assert r.status_code == 200, r.text
        [(ciphertext,)] = stored_rows(
            srv, "SELECT ciphertext FROM secrets WHERE name = 'OPENAI_API_KEY'"
        )
        assert KEY not in ciphertext and ciphertext.startswith("gAAAA")
        wf = c.post("/wf/", json={"name": "asks", "definition": LLM_FLOW}).json()["id"]
    with (
        LiveServer(keyed_settings) as srv,
        worker(keyed_settings),
        httpx.Client(base_url=srv.url, timeout=60) as c,
    ):
        shown = c.get("/env-mgmt/OPENAI_API_KEY/")
        assert shown.status_code == 200
        assert KEY not in shown.text
        assert shown.json()["value"] == "*" * (len(KEY) - 4) + "WXYZ"
        run = wait_run(c, start(c, wf, {"in": {"topic": "cats"}}))
        assert run["status"] == "COMPLETED", run
        assert fake_llm.chats()[-1].headers["authorization"] == f"Bearer {KEY}"
        assert KEY not in c.get(f"/run/{run['id']}/").text
        assert KEY not in c.get(f"/run/{run['id']}/logs/").text
        # deleted: the environment's key applies again
        assert c.delete("/env-mgmt/OPENAI_API_KEY/").status_code == 200
        assert c.delete("/env-mgmt/OPENAI_API_KEY/").status_code == 404
        assert wait_run(c, start(c, wf, {"in": {"topic": "dogs"}}))["status"] == "COMPLETED"
        assert fake_llm.chats()[-1].headers["authorization"] == "Bearer sk-test-openai-0123456789"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_setting_a_provider_key_without_a_secret_key_is_409(tmp_path: Path, backend: str) -> None:
    settings, cleanup = make_settings(tmp_path, backend)
    with LiveServer(settings) as srv:
        r = httpx.post(f"{srv.url}/env-mgmt/", json={"name": "OPENAI_API_KEY", "value": KEY})
        assert r.status_code == 409
        assert "SPURLINE_SECRET_KEY is not set" in r.json()["detail"]
        assert stored_rows(srv, "SELECT name FROM secrets") == []
    cleanup()


LEAKY = """key = secret('TOKEN')
import logging, sys
print('stdout ' + key)
print('stderr ' + key, file=sys.stderr)
logging.warning('log %s', key)
raise ValueError('bad ' + key)
"""


def test_secret_printed_and_raised_is_masked_in_logs_attempts_and_traceback(
    keyed_settings: Settings,
) -> None:
    with LiveServer(keyed_settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        assert c.put("/secrets/TOKEN/", json={"value": TOKEN}).status_code == 204
        definition = {
            "nodes": [node("in", "InputNode"), py(LEAKY, "leak")],
            "links": [link("in", "leak")],
        }
        wf = c.post("/wf/", json={"name": "leaks", "definition": definition})
        assert wf.status_code == 200, wf.text
        run = wait_run(c, start(c, wf.json()["id"], {"in": {}}))
        assert run["status"] == "FAILED", run
        task = next(t for t in run["tasks"] if t["node_id"] == "leak")
        assert task["traceback"].rstrip().endswith("ValueError: bad ***"), task["traceback"]
        assert task["error"] == "ValueError: bad ***"
        logs = c.get(f"/run/{run['id']}/logs/", params={"node": "leak"})
        assert logs.status_code == 200
        lines = [(ln["stream"], ln["line"]) for ln in logs.json()]
        assert ("stdout", "stdout ***") in lines and ("stderr", "stderr ***") in lines
        assert ("log", "log ***") in lines
        attempts = c.get(f"/run/{run['id']}/tasks/{task['id']}/attempts/")
        assert attempts.status_code == 200
        assert attempts.json() and all(
            a["error"] == "ValueError: bad ***" and "ValueError: bad ***" in a["traceback"]
            for a in attempts.json()
        )
        for body in (logs.text, attempts.text, c.get(f"/run/{run['id']}/").text):
            assert TOKEN not in body
        # nothing of it at rest either
        for table in ("task_attempts", "run_events", "tasks"):
            assert TOKEN not in str(stored_rows(srv, f"SELECT * FROM {table}"))
