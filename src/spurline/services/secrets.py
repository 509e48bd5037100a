"""Secrets: encrypted at rest, handed to node code by name, redacted everywhere else
(docs/security.md §6).

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``) under
``SPURLINE_SECRET_KEY``. A process keeps the decrypted values for
``SPURLINE_TOKEN_CACHE_S`` seconds, so redacting a task's output costs no query.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from spurline.engine.clock import now
from spurline.exceptions import DefinitionInvalid, FieldInvalid, NotFound, SecretsUnavailable
from spurline.nodes._limits import SECRETS
from spurline.settings import Settings
from spurline.store import secrets as q
from spurline.store.db import Database
from spurline.store.secrets import SecretInfo

__all__ = ["SECRETS", "Redactor", "SecretService", "generate_key"]

MASK = "***"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
#: Values shorter than this are not redacted: replacing every "1" or "ab" in every
#: output would destroy data and hide nothing worth hiding.
MIN_REDACTED_LENGTH = 4
_ACCESSOR_RE = re.compile(r"""\bsecret\(\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*\)""")


def generate_key() -> str:
    """A new Fernet key (44 URL-safe base64 characters) for ``SPURLINE_SECRET_KEY``."""
    return Fernet.generate_key().decode()


def check_secret_name(name: str) -> None:
    """Raise FieldInvalid unless ``name`` looks like an environment variable name."""
    if not _NAME_RE.match(name):
        problem = {
            "path": ("name",),
            "msg": "a secret name is 1 to 200 letters, digits or '_', not starting with a digit",
            "type": "value_error",
        }
        raise FieldInvalid([problem])


def referenced_names(code: str) -> set[str]:
    """Names ``code`` reads with ``secret("NAME")`` (literal names only)."""
    return {m.group(2) for m in _ACCESSOR_RE.finditer(code)}


class Redactor:
    """Replaces every secret value inside JSON-like data with ``***``."""

    def __init__(self, values: Iterable[str]) -> None:
        found = sorted({v for v in values if len(v) >= MIN_REDACTED_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, found))) if found else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        """``value`` with every secret replaced."""
        return self._pattern.sub(MASK, value) if self._pattern else value

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with every secret in strings (keys too) replaced."""
        if self._pattern is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self._walk(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value

    def contains(self, value: Any) -> bool:
        """True when a secret value appears anywhere in JSON-like ``value``."""
        return self._pattern is not None and self.data(value) != value


class SecretService:
    """Sets, lists and deletes secrets; decrypts them for nodes; builds redactors.

    Args:
        db: the store.
        settings: ``secret_key`` and ``token_cache_s`` (how long values are cached).
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._lock = threading.Lock()
        self._values: dict[str, str] | None = None
        self._redactor = Redactor(())
        self._expires = 0.0

    def _fernet(self) -> Fernet:
        key = self.settings.secret_key
        if key is None:
            raise SecretsUnavailable(
                "SPURLINE_SECRET_KEY is not set: create one with 'spurline secrets generate-key' "
                "and set it on every server and worker"
            )
        try:
            return Fernet(key.get_secret_value().encode())
        except (ValueError, TypeError):
            raise SecretsUnavailable(
                "SPURLINE_SECRET_KEY is not a Fernet key (32 bytes, URL-safe base64); "
                "create one with 'spurline secrets generate-key'"
            ) from None

    def set(self, name: str, value: str) -> bool:
        """Store ``value`` encrypted under ``name``; True when created, False when replaced.

        Raises:
            FieldInvalid: a bad name or an empty value.
            SecretsUnavailable: no usable key.
        """
        check_secret_name(name)
        if not value:
            problem = {
                "path": ("value",),
                "msg": "a secret value cannot be empty",
                "type": "value_error",
            }
            raise FieldInvalid([problem])
        token = self._fernet().encrypt(value.encode()).decode()
        created = self.db.writer.run(lambda c: q.put_secret(c, name, token, now()))
        self.forget()
        return created

    def list(self) -> list[SecretInfo]:
        """Names and dates of every secret (never values)."""
        return self.db.read(q.list_secrets)

    def delete(self, name: str) -> None:
        """Delete a secret; NotFound when there is none by that name."""
        self.db.writer.run(lambda c: q.delete_secret(c, name))
        self.forget()

    def forget(self) -> None:
        """Drop this process's cached values (after a change made here)."""
        with self._lock:
            self._expires = 0.0

    def values(self) -> dict[str, str]:
        """Every secret's value by name (cached briefly). No secrets: ``{}``, key or not.

        Raises:
            SecretsUnavailable: secrets exist but the key is missing or does not open them.
        """
        with self._lock:
            if self._values is not None and time.monotonic() < self._expires:
                return self._values
        stored = self.db.read(q.ciphertexts)
        values: dict[str, str] = {}
        if stored:
            fernet = self._fernet()
            try:
                values = {n: fernet.decrypt(t.encode()).decode() for n, t in stored.items()}
            except InvalidToken:
                raise SecretsUnavailable(
                    "SPURLINE_SECRET_KEY does not open the stored secrets (a different key?)"
                ) from None
        with self._lock:
            self._values = values
            self._redactor = Redactor(values.values())
            self._expires = time.monotonic() + self.settings.token_cache_s
        return values

    def get(self, name: str) -> str:
        """One secret's value, for code of Spurline's own (provider keys of LLM nodes,
        templates' ``{{ secrets.NAME }}``); never for an API answer.

        Raises:
            NotFound: no secret has this name.
            SecretsUnavailable: no usable key.
        """
        try:
            return self.values()[name]
        except KeyError:
            raise NotFound("Secret", name) from None

    def for_code(self, code: str) -> dict[str, str]:
        """The values of the secrets ``code`` names with ``secret("NAME")``, and only those."""
        wanted = referenced_names(code)
        if not wanted:
            return {}
        values = self.values()
        return {n: values[n] for n in wanted if n in values}

    def redactor(self) -> Redactor:
        """A redactor of the current values (one that does nothing when there are none)."""
        try:
            self.values()
        except SecretsUnavailable:
            # Without the key nothing could have been decrypted into an output either.
            return Redactor(())
        return self._redactor

    def check_definition(self, definition: dict[str, Any]) -> None:
        """Raise DefinitionInvalid when a secret's value appears in ``definition``."""
        redactor = self.redactor()
        if redactor.contains(definition):
            problem = {
                "path": ("definition",),
                "msg": "the definition contains the value of a secret; read it in code with "
                'secret("NAME") instead',
                "type": "value_error",
            }
            raise DefinitionInvalid([problem])
