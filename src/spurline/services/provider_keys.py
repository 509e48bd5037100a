"""Provider keys (``OPENAI_API_KEY`` ...) set through ``/env-mgmt/``, kept with the
secrets (see docs/pyspur.md, "Provider keys").

A key set through the API is a secret of the same name: encrypted at rest under
``SPURLINE_SECRET_KEY`` in the store every server and Celery worker shares, so it
survives a restart and reaches every run, and, like every secret, it is replaced by
``***`` wherever it would enter run data.
"""

from __future__ import annotations

import asyncio
import os

from spurline.exceptions import NotFound
from spurline.services.secrets import SecretService

__all__ = ["SecretKeys"]


class SecretKeys:
    """:class:`~spurline.store.provider_keys.ProviderKeys` over the secrets store.

    A stored key wins over the process's environment variable of the same name; the
    environment is the fallback when none is stored (see docs/pyspur.md).

    Args:
        secrets: the secrets service that encrypts, stores and decrypts the values.
    """

    def __init__(self, secrets: SecretService) -> None:
        self.secrets = secrets

    async def get(self, name: str) -> str | None:
        """The stored value of ``name``, else the environment's, else None.

        Raises:
            SecretsUnavailable: secrets are stored but ``SPURLINE_SECRET_KEY`` is
                missing or does not open them (a stored key could not be honoured).
        """
        values = await asyncio.to_thread(self.secrets.values)
        value = values.get(name)
        return value if value is not None else os.environ.get(name)

    async def set(self, name: str, value: str) -> None:
        """Store ``value`` encrypted under ``name`` (created or replaced).

        Raises:
            SecretsUnavailable: no usable ``SPURLINE_SECRET_KEY`` (HTTP 409).
        """
        await asyncio.to_thread(self.secrets.set, name, value)

    async def delete(self, name: str) -> bool:
        """Delete the stored ``name``; False when none was stored (the environment's
        value, if any, is left alone and applies again)."""
        try:
            await asyncio.to_thread(self.secrets.delete, name)
        except NotFound:
            return False
        return True

    async def is_set(self, name: str) -> bool:
        """Whether ``name`` has a value stored or in the environment."""
        return await self.get(name) is not None
