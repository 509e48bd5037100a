"""Provider keys through PySpur's ``/env-mgmt/`` routes (see docs/pyspur.md).

A key's value is never returned in full: ``GET /env-mgmt/{name}`` shows at most its
last four characters.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel, Field

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import RuntimeDep
from spurline.api.schemas import ErrorResponse
from spurline.exceptions import InputsInvalid, NotFound
from spurline.nodes.llm._providers import PROVIDERS

router = SlashRouter(prefix="/env-mgmt", tags=["provider keys"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Key not found"}
}


class ProviderParameter(BaseModel):
    """One setting of a provider: a secret key (``password``) or plain ``text``."""

    name: str
    description: str
    required: bool = True
    type: str = "password"


class ProviderConfig(BaseModel):
    """A provider as PySpur's settings page lists it."""

    id: str
    name: str
    description: str
    category: str
    parameters: list[ProviderParameter]
    icon: str


class ApiKey(BaseModel):
    """A key and its (masked) value."""

    name: str
    value: str | None = Field(default=None, description="masked when read")


class Message(BaseModel):
    """A one-line confirmation."""

    message: str


def provider_configs() -> list[ProviderConfig]:
    """Every LLM provider with the variables it reads."""
    out = []
    for p in PROVIDERS.values():
        params = []
        if p.key_var:
            params.append(ProviderParameter(name=p.key_var, description=f"{p.name} API key"))
        for var in dict.fromkeys([*p.extra_vars, *([p.base_url_var] if p.base_url_var else [])]):
            params.append(
                ProviderParameter(
                    name=var, description=f"{p.name} setting", required=False, type="text"
                )
            )
        out.append(
            ProviderConfig(
                id=p.id,
                name=p.name,
                description=f"{p.name} models (prefix {p.id}/)",
                category="llm",
                parameters=params,
                icon=p.id,
            )
        )
    return out


def _parameters() -> dict[str, ProviderParameter]:
    return {param.name: param for cfg in provider_configs() for param in cfg.parameters}


def mask(value: str) -> str:
    """``sk-…abcd`` style: only the last four characters of a long value show."""
    if len(value) < 12:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


@router.get("/providers/", response_model=list[ProviderConfig])
async def list_providers() -> Response:
    """Every provider and the variables it reads."""
    return OrjsonResponse([c.model_dump() for c in provider_configs()])


@router.get("/", response_model=list[str])
async def list_keys() -> Response:
    """The names of every key that can be set."""
    return OrjsonResponse(list(_parameters()))


@router.get("/anon-data/", response_model=bool)
async def anonymous_telemetry_disabled() -> Response:
    """PySpur's telemetry switch; Spurline collects no telemetry, so always true."""
    return OrjsonResponse(True)


@router.get("/embedding-models/", response_model=dict[str, Any])
async def embedding_models() -> Response:
    """Embedding models for retrieval; Spurline has none (an empty object)."""
    return OrjsonResponse({})


@router.get("/vector-stores/", response_model=dict[str, Any])
async def vector_stores() -> Response:
    """Vector stores for retrieval; Spurline has none (an empty object)."""
    return OrjsonResponse({})


@router.get("/{name}/", response_model=ApiKey, responses=NOT_FOUND)
async def get_key(name: str, rt: RuntimeDep) -> Response:
    """A key with its value masked (text settings are shown); empty when not set."""
    param = _parameters().get(name)
    if param is None:
        raise NotFound("Key", name)
    value = await rt.provider_keys.get(name) or ""
    shown = mask(value) if param.type == "password" else value
    return OrjsonResponse({"name": name, "value": shown})


@router.post(
    "/",
    response_model=Message,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorResponse, "description": "SPURLINE_SECRET_KEY is not set"},
    },
)
async def set_key(body: ApiKey, rt: RuntimeDep) -> Response:
    """Store a key with the secrets, encrypted, for every run of every process (never
    in run data); 409 without ``SPURLINE_SECRET_KEY`` (see docs/pyspur.md)."""
    if body.name not in _parameters():
        raise NotFound("Key", body.name)
    if body.value is None or not body.value.strip():
        msg = f"the value of {body.name} must not be empty"
        raise InputsInvalid([{"path": ("value",), "msg": msg, "type": "value_error"}])
    await rt.provider_keys.set(body.name, body.value)
    return OrjsonResponse({"message": f"Key '{body.name}' set successfully"})


@router.delete("/{name}/", response_model=Message, responses=NOT_FOUND)
async def delete_key(name: str, rt: RuntimeDep) -> Response:
    """Delete a key stored through this API (the server's environment is left alone)."""
    if name not in _parameters() or not await rt.provider_keys.delete(name):
        raise NotFound("Key", name)
    return OrjsonResponse({"message": f"Key '{name}' deleted successfully"})
