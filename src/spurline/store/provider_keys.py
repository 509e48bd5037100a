"""The interface to provider keys (``OPENAI_API_KEY`` ...) set through ``/env-mgmt/``
(see docs/pyspur.md).

:class:`ProviderKeys` is what the API and the LLM nodes use; its implementation,
:class:`spurline.services.provider_keys.SecretKeys`, keeps the keys with the
encrypted secrets.
"""

from __future__ import annotations

from typing import Protocol


class ProviderKeys(Protocol):
    """Provider keys by variable name; a value is never listed, only looked up."""

    async def get(self, name: str) -> str | None:
        """The value set for ``name``, else the server's environment's, else None."""
        ...

    async def set(self, name: str, value: str) -> None:
        """Set ``name`` (the caller has checked that ``value`` is not empty)."""
        ...

    async def delete(self, name: str) -> bool:
        """Forget ``name``; False when it was not set here."""
        ...

    async def is_set(self, name: str) -> bool:
        """Whether ``name`` has a value here or in the environment."""
        ...
