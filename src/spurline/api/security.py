"""The security layer in front of every route (docs/security.md §1-3).

One ASGI middleware: it names the caller (Bearer token, session cookie, or the local
user when auth is off), checks the role the route needs (``api/access.py``), refuses
what browsers must not do (foreign ``Host`` and cross-origin writes with auth off,
cookie writes without the CSRF token) and adds the security headers to every answer.
The caller is left in ``scope["state"]["principal"]`` for routes (the actor of runs).
"""

from __future__ import annotations

import logging
from typing import Literal

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spurline.api.access import required_role
from spurline.exceptions import NotAuthenticated, TooManyAttempts
from spurline.services.auth import LOCAL, AuthService, Principal

log = logging.getLogger(__name__)

SESSION_COOKIE = "spurline_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_CSP_HEADER = (b"content-security-policy", CSP.encode())
# FastAPI's interactive docs pages are inline script; they would be blank under the CSP.
_DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})


def host_name(host: str) -> str:
    """The name part of a ``Host`` header: ``[::1]:80`` -> ``::1``, ``a:80`` -> ``a``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """True for a loopback host name or address (``127.0.0.0/8`` included)."""
    name = host_name(host).lower()
    return name in LOOPBACK_HOSTS or name.startswith("127.")


class SecurityMiddleware:
    """Authentication, the route's role, browser refusals and security headers.

    The token service is the Runtime's (``app.state.runtime.auth``), which exists once
    the app's lifespan has started.

    Args:
        app: the wrapped application.
        mode: ``required`` or ``off`` (docs/security.md §2).
        cors_origins: origins allowed to call cross-origin (``SPURLINE_CORS_ORIGINS``).
    """

    def __init__(
        self, app: ASGIApp, mode: Literal["required", "off"], cors_origins: list[str]
    ) -> None:
        self.app = app
        self.mode = mode
        self.cors_origins = frozenset(cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = _headers(scope)
        send = _with_security_headers(send, path not in _DOCS_PATHS)
        try:
            principal = await self._principal(scope, headers)
        except _Refusal as refusal:
            await _reply(send, refusal.status, refusal.detail, refusal.headers)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope, headers: dict[bytes, bytes]) -> Principal | None:
        method: str = scope["method"]
        if self.mode == "off":
            self._browser_checks_auth_off(method, headers)
            return LOCAL
        role = required_role(method, scope["path"])
        client = (scope.get("client") or ("?", 0))[0]
        auth: AuthService = scope["app"].state.runtime.auth
        try:
            principal = await self._identify(auth, headers, method, client)
        except NotAuthenticated as exc:
            if role is None:
                return None
            raise _Refusal(401, str(exc), [(b"www-authenticate", b"Bearer")]) from None
        except TooManyAttempts as exc:
            retry = [(b"retry-after", str(exc.retry_after).encode())]
            raise _Refusal(429, str(exc), retry) from None
        if role is None:
            return principal
        if principal is None:
            raise _Refusal(
                401,
                "authentication required: send 'Authorization: Bearer TOKEN' "
                "(create one with 'spurline tokens create NAME --role viewer')",
                [(b"www-authenticate", b"Bearer")],
            )
        if not principal.role.allows(role):
            raise _Refusal(
                403,
                f"this needs the {role.value} role; "
                f"token {principal.name!r} is {principal.role.value}",
            )
        return principal

    async def _identify(
        self, auth: AuthService, headers: dict[bytes, bytes], method: str, client: str
    ) -> Principal | None:
        authorization = headers.get(b"authorization")
        if authorization is not None:
            scheme, _, token = authorization.decode("latin-1").strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("malformed Authorization header: expected 'Bearer TOKEN'")
            return await auth.verify_token(token.strip(), client)
        cookie = _cookie(headers, SESSION_COOKIE)
        if cookie is None:
            return None
        principal = await auth.verify_session(cookie, client)
        if method not in SAFE_METHODS:
            sent = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")
            if not sent or sent != principal.csrf_token:
                raise _Refusal(
                    403,
                    "missing or wrong X-CSRF-Token header: a write with the session cookie "
                    "must send the csrf_token of GET /auth/session",
                )
        return principal

    def _browser_checks_auth_off(self, method: str, headers: dict[bytes, bytes]) -> None:
        host = headers.get(b"host", b"").decode("latin-1")
        if not is_loopback(host):
            raise _Refusal(
                403,
                f"Host {host!r} is not a loopback name; with SPURLINE_AUTH=off only "
                "localhost, 127.0.0.1 and [::1] are served",
            )
        if method in SAFE_METHODS:
            return
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        origin = headers.get(b"origin")
        if site in ("cross-site", "same-site"):
            raise _Refusal(403, f"cross-origin {method} refused (Sec-Fetch-Site: {site})")
        if origin is not None:
            text = origin.decode("latin-1").rstrip("/")
            own = {f"http://{host}", f"https://{host}"}
            if text not in own and text not in self.cors_origins:
                raise _Refusal(403, f"cross-origin {method} refused (Origin: {text})")


class _Refusal(Exception):
    def __init__(
        self, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.status = status
        self.detail = detail
        self.headers = headers or []


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k: v for k, v in scope["headers"]}


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    for part in raw.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def _with_security_headers(send: Send, csp: bool) -> Send:
    extra = [*_HEADERS, _CSP_HEADER] if csp else _HEADERS

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return wrapped


async def _reply(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
