"""Browser sessions and tokens over HTTP (docs/security.md §1, §3)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import Request, Response
from pydantic import ValidationError

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import PrincipalDep, RuntimeDep
from spurline.api.schemas import ErrorResponse
from spurline.api.schemas_security import (
    SessionRequest,
    SessionResponse,
    TokenCreatedResponse,
    TokenCreateRequest,
    TokenResponse,
)
from spurline.api.security import SESSION_COOKIE, _cookie
from spurline.exceptions import FieldInvalid
from spurline.services.auth import Principal

router = SlashRouter(tags=["security"])
UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No valid token or session"}
}
_SESSION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SessionRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": SessionRequest.model_json_schema()},
        },
    }
}


def _session_view(who: Principal, mode: str) -> dict[str, Any]:
    return {"name": who.name, "role": who.role, "csrf_token": who.csrf_token, "auth": mode}


async def _token_from_body(request: Request) -> str:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            form = await request.form()
            data: Any = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            data = await request.json()
        return SessionRequest.model_validate(data).token
    except ValidationError as exc:
        raise FieldInvalid(
            [{"path": tuple(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None
    except ValueError:
        problem = {
            "path": (),
            "msg": 'expected JSON {"token": ...} or a form',
            "type": "json_invalid",
        }
        raise FieldInvalid([problem]) from None


@router.post(
    "/auth/session/",
    response_model=SessionResponse,
    responses=UNAUTHENTICATED,
    openapi_extra=_SESSION_BODY,
)
async def sign_in(request: Request, rt: RuntimeDep) -> Response:
    """Sign in with a token: sets the HttpOnly session cookie, returns the CSRF token."""
    token = await _token_from_body(request)
    mode = request.app.state.auth_mode
    if mode == "off":
        return OrjsonResponse(_session_view(_local(request), mode))
    client = request.client.host if request.client else "?"
    cookie, who = await rt.auth.open_session(token, client)
    response = OrjsonResponse(_session_view(who, mode))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(rt.settings.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _local(request: Request) -> Principal:
    who: Principal = request.state.principal
    return who


@router.get("/auth/session/", response_model=SessionResponse, responses=UNAUTHENTICATED)
async def session(request: Request, who: PrincipalDep) -> Response:
    """Who this request is signed in as, with the session's CSRF token."""
    return OrjsonResponse(_session_view(who, request.app.state.auth_mode))


@router.delete(
    "/auth/session/", status_code=204, response_class=Response, responses=UNAUTHENTICATED
)
async def sign_out(request: Request, rt: RuntimeDep) -> Response:
    """End the session and clear its cookie."""
    cookie = _cookie({k.encode(): v.encode() for k, v in request.headers.items()}, SESSION_COOKIE)
    if cookie is not None:
        await rt.auth.close_session(cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/tokens/", response_model=list[TokenResponse])
async def list_tokens(rt: RuntimeDep) -> Response:
    """Every token (revoked ones too), oldest first; never the tokens themselves."""
    records = await asyncio.to_thread(rt.auth.list_tokens)
    return OrjsonResponse([_token_view(asdict(r)) for r in records])


@router.post(
    "/tokens/",
    status_code=201,
    response_model=TokenCreatedResponse,
    responses={409: {"model": ErrorResponse, "description": "A token with this name exists"}},
)
async def create_token(body: TokenCreateRequest, rt: RuntimeDep) -> Response:
    """Create a token; the answer is the only time the token is shown."""
    record, token = await asyncio.to_thread(rt.auth.create_token, body.name, body.role)
    return OrjsonResponse({**_token_view(asdict(record)), "token": token}, status_code=201)


@router.delete(
    "/tokens/{name}/",
    status_code=204,
    response_class=Response,
    responses={
        404: {"model": ErrorResponse, "description": "Token not found"},
        409: {"model": ErrorResponse, "description": "The token is revoked already"},
    },
)
async def revoke_token(name: str, rt: RuntimeDep) -> Response:
    """Revoke a token; its browser sessions end too."""
    await asyncio.to_thread(rt.auth.revoke_token, name)
    return Response(status_code=204)


def _token_view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("name", "role", "prefix", "created_at", "revoked_at")}
