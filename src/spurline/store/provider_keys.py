"""Where provider keys (``OPENAI_API_KEY`` ...) set through ``/env-mgmt/`` are kept
(see docs/pyspur.md).

:class:`ProviderKeys` is the interface the API and the LLM nodes use. The one
implementation today, :class:`ProcessKeys`, keeps keys in this process's memory:
nothing is written to disk or to the database, a key set through the API lasts
until the server stops and reaches only runs executed by this process (a Celery
worker reads its own environment). The encrypted secrets store takes its place
when it lands, behind the same interface.
"""

from __future__ import annotations

import asyncio
import os
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


class ProcessKeys:
    """:class:`ProviderKeys` in this process's memory, over the environment."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def get(self, name: str) -> str | None:
        """See :meth:`ProviderKeys.get`."""
        value = self._values.get(name)
        return value if value is not None else os.environ.get(name)

    async def set(self, name: str, value: str) -> None:
        """See :meth:`ProviderKeys.set`."""
        async with self._lock:
            self._values[name] = value

    async def delete(self, name: str) -> bool:
        """See :meth:`ProviderKeys.delete`."""
        async with self._lock:
            return self._values.pop(name, None) is not None

    async def is_set(self, name: str) -> bool:
        """See :meth:`ProviderKeys.is_set`."""
        return await self.get(name) is not None
