"""Secrets (docs/security.md §6): encrypted at rest, set by CLI and admin API, never
returned, read by node code with ``secret("NAME")``, redacted in what is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from tests.conftest import Cli, LiveServer, serving

from spurline.services.auth import Role
from spurline.services.secrets import Redactor, generate_key
from spurline.settings import Settings

VALUE = "sk-live-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    home = Path(tmp_path_factory.mktemp("secrets"))
    with serving(home, "sqlite", auth="required", secret_key=generate_key()) as srv:
        yield srv, srv.runtime.auth.create_token("admin", Role.ADMIN)[1]


def test_secret_set_by_api_is_encrypted_never_returned_and_readable_by_code(
    keyed: tuple[LiveServer, str],
) -> None:
    srv, token = keyed
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=srv.url, timeout=60, headers=auth) as client:
        assert client.put("/secrets/API_KEY/", json={"value": VALUE}).status_code == 204
        listed = client.get("/secrets/")
        assert [s["name"] for s in listed.json()] == ["API_KEY"]
        assert VALUE not in listed.text
        # at rest: a Fernet token, not the value
        engine = create_engine(srv.runtime.db.url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT ciphertext FROM secrets")).scalar_one()
        engine.dispose()
        assert VALUE not in stored and stored.startswith("gAAAA")
        definition = {
            "nodes": [
                {"id": "in", "node_type": "InputNode", "config": {"output_schema": {}}},
                {
                    "id": "use",
                    "node_type": "PythonFuncNode",
                    "config": {
                        "code": "key = secret('API_KEY')\n"
                        "return {'length': len(key), 'echo': 'key=' + key}"
                    },
                },
            ],
            "links": [{"source_id": "in", "target_id": "use"}],
        }
        wf = client.post("/wf/", json={"name": "uses a secret", "definition": definition})
        assert wf.status_code == 200, wf.text
        r = client.post(f"/wf/{wf.json()['id']}/run/", json={"initial_inputs": {"in": {}}})
        assert r.status_code == 200, r.text
        # the code saw the value; what was stored shows *** in its place
        assert r.json()["use"] == {"length": len(VALUE), "echo": "key=***"}
        run = client.get("/run/").json()[0]
        assert VALUE not in str(run)
        # a definition holding the value is refused
        leaky = {
            "nodes": [
                {"id": "in", "node_type": "InputNode", "config": {"output_schema": {}}},
                {
                    "id": "note",
                    "node_type": "StaticValueNode",
                    "config": {"values": {"note": f"key {VALUE}"}},
                },
            ],
            "links": [],
        }
        refused = client.post("/wf/", json={"name": "leaky", "definition": leaky})
        assert refused.status_code == 422
        assert "contains the value of a secret" in refused.text
        assert VALUE not in refused.text
        assert client.delete("/secrets/API_KEY/").status_code == 204
        assert client.delete("/secrets/API_KEY/").status_code == 404
        assert client.put("/secrets/9bad/", json={"value": "x"}).status_code == 422


def test_a_missing_secret_names_itself(keyed: tuple[LiveServer, str]) -> None:
    srv, token = keyed
    auth = {"Authorization": f"Bearer {token}"}
    definition = {
        "nodes": [
            {"id": "in", "node_type": "InputNode", "config": {"output_schema": {}}},
            {
                "id": "use",
                "node_type": "PythonFuncNode",
                "config": {"code": "return {'k': secret('NOPE')}"},
            },
        ],
        "links": [{"source_id": "in", "target_id": "use"}],
    }
    with httpx.Client(base_url=srv.url, timeout=60, headers=auth) as client:
        wf = client.post("/wf/", json={"name": "missing", "definition": definition}).json()
        r = client.post(f"/wf/{wf['id']}/run/", json={"initial_inputs": {"in": {}}})
        assert r.status_code == 422
        assert "no secret 'NOPE'" in r.json()["detail"]["message"]


def test_secrets_without_a_key_are_refused_with_409(server: LiveServer) -> None:
    r = httpx.put(f"{server.url}/secrets/X/", json={"value": "v"})
    assert r.status_code == 409
    assert "SPURLINE_SECRET_KEY is not set" in r.json()["detail"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_secrets_cli(tmp_path: Path, backend: str) -> None:
    cli = Cli(Settings(home=tmp_path))
    no_key = cli("secrets", "set", "TOKEN_A", stdin="value-one\n")
    assert no_key.returncode == 2
    assert no_key.stderr.strip().startswith("error: SPURLINE_SECRET_KEY is not set")
    key = cli("secrets", "generate-key").stdout.strip()
    cli.env["SPURLINE_SECRET_KEY"] = key
    made = cli("secrets", "set", "TOKEN_A", stdin="value-one\n")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "created secret TOKEN_A"
    assert cli("secrets", "set", "TOKEN_A", "--value", "value-two").stdout.strip() == (
        "replaced secret TOKEN_A"
    )
    listed = cli("secrets", "list")
    assert "TOKEN_A" in listed.stdout and "value-" not in listed.stdout
    assert cli("secrets", "delete", "TOKEN_A").returncode == 0
    missing = cli("secrets", "delete", "TOKEN_A")
    assert missing.returncode == 2 and "no secret TOKEN_A" in missing.stderr
    cli.env["SPURLINE_SECRET_KEY"] = "not-a-key"
    bad = cli("secrets", "set", "B", "--value", "v")
    assert bad.returncode == 2 and "not a Fernet key" in bad.stderr


def test_redactor_replaces_values_everywhere() -> None:
    r = Redactor(["hunter22", "abc"])  # values under 4 characters are left alone
    data = {"a": "pw=hunter22!", "b": ["hunter22", 1, None], "hunter22": {"c": "abc"}}
    assert r.data(data) == {"a": "pw=***!", "b": ["***", 1, None], "***": {"c": "abc"}}
    assert r.contains(data) and not r.contains({"x": "nothing"})
    assert not Redactor([]) and Redactor([]).data(data) is data
