"""Tokens and roles over HTTP (docs/security.md §1-3): the endpoint-by-role matrix built
from the OpenAPI document, bad tokens, rate limiting, browser sessions and headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer, serving

from spurline.api.access import ROUTE_ROLES, declared, required_role
from spurline.services.auth import Role

SIMPLE = {
    "nodes": [
        {"id": "in", "node_type": "InputNode", "config": {"output_schema": {"n": "int"}}},
        {"id": "p", "node_type": "PythonFuncNode", "config": {"code": "return {'n': 1}"}},
    ],
    "links": [{"source_id": "in", "target_id": "p"}],
}


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A server with auth required and one token per role (plus one revoked)."""
    home = Path(tmp_path_factory.mktemp("auth"))
    with serving(home, "sqlite", auth="required") as srv:
        auth = srv.runtime.auth
        tokens = {role.value: auth.create_token(f"t-{role.value}", role)[1] for role in Role}
        tokens["revoked"] = auth.create_token("t-revoked", Role.ADMIN)[1]
        auth.revoke_token("t-revoked")
        yield srv, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fill(path: str) -> str:
    """A concrete path for a template: ids that name nothing."""
    return path.replace("{", "").replace("}", "-none")


def test_every_route_declares_its_role(secured: tuple[LiveServer, dict[str, str]]) -> None:
    srv, _ = secured
    doc = srv.app.openapi()
    missing = [
        f"{method.upper()} {path}"
        for path, ops in doc["paths"].items()
        for method in ops
        if not declared(method.upper(), path)
    ]
    assert missing == [], f"add these routes to spurline/api/access.py ROUTE_ROLES: {missing}"
    assert len(doc["paths"]) >= 20
    # an undeclared route needs admin: fail closed
    assert required_role("GET", "/no/such/route/") is Role.ADMIN
    assert required_role("GET", "/api/run/R1/") is Role.VIEWER
    assert all(k.split(" ", 1)[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"} for k in ROUTE_ROLES)


def test_endpoint_role_matrix_from_openapi(secured: tuple[LiveServer, dict[str, str]]) -> None:
    srv, tokens = secured
    doc = httpx.get(f"{srv.url}/openapi.json").json()
    checked = 0
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        for path, ops in doc["paths"].items():
            for method in ops:
                needed = required_role(method.upper(), path)
                assert ops[method].get("x-role") == (needed.value if needed else None)
                for prefix in ("", "/api"):
                    url = prefix + fill(path)
                    anonymous = client.request(method, url)
                    if needed is None:  # public: never refused for want of a role (a
                        # signed link may still answer 403 for a forged signature)
                        assert "role" not in anonymous.text, (method, url)
                        continue
                    assert anonymous.status_code == 401, (method, url, anonymous.text)
                    assert "detail" in anonymous.json()
                    assert anonymous.headers["www-authenticate"] == "Bearer"
                    for role in Role:
                        # streamed: an event stream (GET /events/) answers its status at
                        # once and never ends
                        headers = bearer(tokens[role.value])
                        with client.stream(method, url, headers=headers) as r:
                            if role.allows(needed):
                                assert r.status_code not in (401, 403), (role, method, url)
                            else:
                                assert r.status_code == 403, (role, method, url)
                                assert needed.value in r.read().decode()
                        checked += 1
    assert checked >= 3 * 2 * 25


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer spl_" + "x" * 43, "invalid or revoked token"),
        ("Bearer not-a-token", "invalid or revoked token"),
        ("Bearer spl_a b", "invalid or revoked token"),
        ("", "malformed Authorization header"),
        ("Basic dXNlcjpwYXNz", "malformed Authorization header"),
        ("Bearer", "malformed Authorization header"),
    ],
    ids=["wrong", "malformed", "two-words", "empty-header", "basic", "no-token"],
)
def test_bad_tokens_get_401(
    secured: tuple[LiveServer, dict[str, str]], header: str, detail: str
) -> None:
    srv, _ = secured
    r = httpx.get(f"{srv.url}/run/", headers={"Authorization": header})
    assert r.status_code == 401
    assert detail in r.json()["detail"]


def test_revoked_token_gets_401(secured: tuple[LiveServer, dict[str, str]]) -> None:
    srv, tokens = secured
    r = httpx.get(f"{srv.url}/run/", headers=bearer(tokens["revoked"]))
    assert r.status_code == 401
    assert r.json() == {"detail": "invalid or revoked token"}


def test_a_viewer_starting_a_run_gets_403_and_nothing_is_created(
    secured: tuple[LiveServer, dict[str, str]],
) -> None:
    srv, tokens = secured
    admin, viewer = bearer(tokens["admin"]), bearer(tokens["viewer"])
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        wf = client.post("/wf/", json={"name": "w", "definition": SIMPLE}, headers=admin).json()
        before = client.get("/run/", headers=viewer).headers["x-total-count"]
        body = {"initial_inputs": {"in": {"n": 1}}}
        r = client.post(f"/wf/{wf['id']}/start_run/", json=body, headers=viewer)
        assert r.status_code == 403
        assert r.json() == {"detail": "this needs the operator role; token 't-viewer' is viewer"}
        assert client.get("/run/", headers=viewer).headers["x-total-count"] == before
        r = client.post(f"/wf/{wf['id']}/run/", json=body, headers=bearer(tokens["operator"]))
        assert r.status_code == 200
        assert r.json()["p"] == {"n": 1}


def test_tokens_api_creates_lists_and_revokes(secured: tuple[LiveServer, dict[str, str]]) -> None:
    srv, tokens = secured
    admin = bearer(tokens["admin"])
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        r = client.post("/tokens/", json={"name": "ci-bot", "role": "operator"}, headers=admin)
        assert r.status_code == 201
        created = r.json()
        assert created["token"].startswith("spl_") and created["role"] == "operator"
        listed = client.get("/tokens/", headers=admin).json()
        assert {t["name"] for t in listed} >= {"t-admin", "ci-bot", "t-revoked"}
        assert all("token" not in t for t in listed)
        assert created["token"] not in client.get("/tokens/", headers=admin).text
        ok = client.get("/run/", headers=bearer(created["token"]))
        assert ok.status_code == 200
        dup = client.post("/tokens/", json={"name": "ci-bot", "role": "viewer"}, headers=admin)
        assert dup.status_code == 409
        assert client.delete("/tokens/ci-bot/", headers=admin).status_code == 204
        # revoked through this process's API: refused at once, cache or not
        assert client.get("/run/", headers=bearer(created["token"])).status_code == 401
        assert client.delete("/tokens/ci-bot/", headers=admin).status_code == 409
        bad = client.post("/tokens/", json={"name": "a b", "role": "viewer"}, headers=admin)
        assert bad.status_code == 422


def test_security_headers_on_every_answer(secured: tuple[LiveServer, dict[str, str]]) -> None:
    srv, tokens = secured
    for r in (httpx.get(f"{srv.url}/run/"), httpx.get(f"{srv.url}/health")):
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    # no CORS by default: no allow-origin header for a foreign origin
    r = httpx.get(
        f"{srv.url}/run/", headers={**bearer(tokens["viewer"]), "Origin": "http://evil.test"}
    )
    assert "access-control-allow-origin" not in r.headers


def test_browser_session_cookie_and_csrf(secured: tuple[LiveServer, dict[str, str]]) -> None:
    srv, tokens = secured
    with httpx.Client(base_url=srv.url, timeout=60) as browser:
        assert browser.get("/auth/session/").status_code == 401
        bad = browser.post("/auth/session", json={"token": "spl_" + "y" * 43})
        assert bad.status_code == 401
        r = browser.post("/auth/session", data={"token": tokens["admin"]})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("spurline_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        csrf = r.json()["csrf_token"]
        assert r.json() == {
            "name": "t-admin",
            "role": "admin",
            "csrf_token": csrf,
            "auth": "required",
        }
        assert browser.get("/auth/session").json()["csrf_token"] == csrf
        assert browser.get("/run/").status_code == 200
        body = {"name": "from the browser", "definition": SIMPLE}
        refused = browser.post("/wf/", json=body)
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["detail"]
        wrong = browser.post("/wf/", json=body, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        assert browser.post("/wf/", json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
        out = browser.delete("/auth/session", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        browser.cookies.clear()
        browser.cookies.set("spurline_session", cookie.split(";")[0].split("=", 1)[1])
        assert browser.get("/run/").status_code == 401


def test_wrong_tokens_are_slowed_with_429(tmp_path: Path) -> None:
    with serving(tmp_path, "sqlite", auth="required") as srv:
        good = srv.runtime.auth.create_token("good", Role.VIEWER)[1]
        with httpx.Client(base_url=srv.url, timeout=60) as client:
            codes = [
                client.get("/run/", headers=bearer(f"spl_{i:043d}")).status_code for i in range(20)
            ]
            assert codes[:10] == [401] * 10
            assert set(codes[10:]) == {429}
            r = client.get("/run/", headers=bearer(good))
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) >= 1
            assert "too many failed authentications" in r.json()["detail"]


def offending(srv: LiveServer, **headers: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/wf/cancel_workflow/R-none/", headers=headers)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Auth off (the loopback default), with one allow-listed front-end origin."""
    home = Path(tmp_path_factory.mktemp("open"))
    with serving(home, "sqlite", cors_origins="http://localhost:3000") as srv:
        yield srv


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.test"},
        {"Host": "10.0.0.5:6080"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.test"},
        {"Origin": "null"},
    ],
    ids=["host-name", "host-ip", "cross-site", "same-site", "origin", "null-origin"],
)
def test_auth_off_refuses_what_a_foreign_page_sends(
    open_server: LiveServer, headers: dict[str, str]
) -> None:
    r = offending(open_server, **headers)
    assert r.status_code == 403
    assert "detail" in r.json()


def test_auth_off_serves_loopback_same_origin_and_allowed_origins(open_server: LiveServer) -> None:
    port = open_server.port
    for headers in (
        {},
        {"Host": f"localhost:{port}"},
        {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://localhost:3000"},
    ):
        r = offending(open_server, **headers)
        assert r.status_code == 404, (headers, r.text)  # reached the route: no such run
    r = httpx.get(f"{open_server.url}/run/", headers={"Origin": "http://localhost:3000"})
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    who = httpx.get(f"{open_server.url}/auth/session").json()
    assert who == {"name": "local", "role": "admin", "csrf_token": None, "auth": "off"}


def test_every_operation_documents_401_and_403(secured: tuple[LiveServer, dict[str, str]]) -> None:
    doc: dict[str, Any] = httpx.get(f"{secured[0].url}/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if required_role(method.upper(), path) is not None:
                assert {"401", "403", "429"} <= set(op["responses"]), (method, path)


def test_the_ui_shell_is_public_and_its_data_is_not(
    secured: tuple[LiveServer, dict[str, str]],
) -> None:
    srv, tokens = secured
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        # the page shells and assets carry no run data: a browser loads them, then signs in
        for path in ("/ui/", "/ui/runs", "/ui/runs/R-none", "/ui/static/js/app.js"):
            assert client.get(path).status_code in (200, 404), path
            assert client.get(path).status_code != 401, path
        assert client.get("/ui/").status_code == 200
        # what the pages read still needs a token or a session
        assert client.get("/run_summaries/").status_code == 401
        assert client.get("/run_summaries/", headers=bearer(tokens["viewer"])).status_code == 200
