"""Request and response schemas of sessions, tokens and secrets (docs/security.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from spurline.services.auth import Role


class SessionRequest(BaseModel):
    """Sign in with a token (JSON, or the form field ``token``)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


class SessionResponse(BaseModel):
    """Who is signed in, and the CSRF token writes must send in ``X-CSRF-Token``."""

    name: str
    role: Role
    csrf_token: str | None
    auth: Literal["required", "off"]


class TokenCreateRequest(BaseModel):
    """A new token's name (the actor recorded on runs) and role."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Role


class TokenResponse(BaseModel):
    """A token as listed: never the token itself, only its first characters."""

    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class TokenCreatedResponse(TokenResponse):
    """A new token, with the token: shown this once."""

    token: str


class SecretSetRequest(BaseModel):
    """A secret's value (stored encrypted, never returned)."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=65536)


class SecretResponse(BaseModel):
    """A secret as listed: its name and dates, never its value."""

    name: str
    created_at: datetime
    updated_at: datetime
