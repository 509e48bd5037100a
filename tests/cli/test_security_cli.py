"""``spurline tokens``, the refusals of ``spurline serve`` beyond loopback, and URLs
shown without their password (docs/security.md §1, §2, §7)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from tests.conftest import Cli, LiveServer, serving

from spurline.settings import Settings, is_loopback_bind, mask_url


def test_tokens_create_list_revoke(cli: Cli) -> None:
    made = cli("tokens", "create", "alice", "--role", "operator")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("spl_") and len(token) == 47
    assert "shown once" in made.stderr and token not in made.stderr
    listed = cli("tokens", "list")
    assert "alice" in listed.stdout and "operator" in listed.stdout
    assert token not in listed.stdout and token[:8] in listed.stdout
    again = cli("tokens", "create", "alice")
    assert again.returncode == 2
    assert again.stderr.strip() == "error: a token named 'alice' exists already"
    bad_role = cli("tokens", "create", "bob", "--role", "root")
    assert (
        bad_role.returncode == 2 and "--role must be viewer, operator or admin" in bad_role.stderr
    )
    assert cli("tokens", "revoke", "alice").returncode == 0
    twice = cli("tokens", "revoke", "alice")
    assert twice.returncode == 2 and "revoked already" in twice.stderr


def test_serve_refuses_beyond_loopback_without_tokens_or_with_auth_off(cli: Cli) -> None:
    no_token = cli("serve", "--host", "0.0.0.0", "--port", "1")
    assert no_token.returncode == 2
    lines = no_token.stderr.strip().splitlines()
    assert lines == [
        "error: refusing to serve 0.0.0.0 without a token: nobody could sign in; create one "
        "first with 'spurline tokens create NAME --role admin'"
    ]
    assert cli("tokens", "create", "ops", "--role", "admin").returncode == 0
    cli.env["SPURLINE_AUTH"] = "off"
    off = cli("serve", "--host", "0.0.0.0", "--port", "1")
    assert off.returncode == 2
    assert len(off.stderr.strip().splitlines()) == 1
    assert "refusing to serve 0.0.0.0 with SPURLINE_AUTH=off" in off.stderr


def test_urls_are_shown_with_the_password_masked() -> None:
    assert mask_url("postgresql+psycopg://app:s3cret@db:5432/x") == (
        "postgresql+psycopg://app:***@db:5432/x"
    )
    assert mask_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert mask_url("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    assert mask_url("postgresql://app@db/x") == "postgresql://app@db/x"
    assert is_loopback_bind("127.0.0.1") and is_loopback_bind("::1")
    assert not is_loopback_bind("0.0.0.0") and not is_loopback_bind("10.1.2.3")


@pytest.mark.skipif(not os.environ.get("SPURLINE_TEST_POSTGRES_URL"), reason="needs PostgreSQL")
@pytest.mark.parametrize("backend", ["postgres"])
def test_db_upgrade_never_prints_the_password(server: LiveServer, backend: str) -> None:
    # trust authentication accepts any password, so a real one can ride along
    url = make_url(server.settings.resolved_database_url()).set(password="pa55word-xyz")
    cli = Cli(server.settings)
    cli.env["SPURLINE_DATABASE_URL"] = url.render_as_string(hide_password=False)
    done = cli("db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "pa55word-xyz" not in done.stdout + done.stderr
    assert ":***@" in done.stdout
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_tokens_and_secrets_on_a_server_with_an_admin_token(tmp_path: Path) -> None:
    from spurline.services.auth import Role
    from spurline.services.secrets import generate_key

    with serving(tmp_path / "srv", "sqlite", auth="required", secret_key=generate_key()) as srv:
        _, admin = srv.runtime.auth.create_token("root", Role.ADMIN)
        # another store here: only the server's may change
        cli = Cli(Settings(home=tmp_path / "here"))
        remote = ["--server", srv.url, "--token", admin]
        made = cli(*remote, "tokens", "create", "bob", "--role", "viewer")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert token.startswith("spl_") and "created viewer token bob" in made.stderr
        listed = cli(*remote, "tokens", "list")
        assert "bob" in listed.stdout and "root" in listed.stdout and token not in listed.stdout
        denied = cli("--server", srv.url, "--token", token, "tokens", "list")
        assert denied.returncode == 2 and denied.stderr.startswith("error: ")
        assert cli(*remote, "tokens", "revoke", "bob").returncode == 0
        assert cli(*remote, "tokens", "revoke", "bob").returncode == 2

        stored = cli(*remote, "secrets", "set", "API_KEY", stdin="s3cr3t-value\n")
        assert stored.returncode == 0, stored.stderr
        listed = cli(*remote, "secrets", "list")
        assert "API_KEY" in listed.stdout and "s3cr3t-value" not in listed.stdout
        assert cli(*remote, "secrets", "delete", "API_KEY").returncode == 0
        assert "API_KEY" not in cli(*remote, "secrets", "list").stdout
        assert not (tmp_path / "here").exists()
