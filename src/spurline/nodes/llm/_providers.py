"""Providers as PySpur names them: the prefix of ``llm_info.model`` (see docs/pyspur.md).

Every provider is reached through the OpenAI SDK: OpenAI and Azure natively, the
others through their OpenAI-compatible endpoints, and any server speaking the
protocol through ``llm_info.base_url``. The SDK honours ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY`` itself, and retries 408/409/429/5xx and lost connections with
exponential backoff and jitter, honouring ``Retry-After``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from spurline.exceptions import NodeFailed

#: Looks a provider key up by its variable name (the key store, then the environment).
KeyLookup = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class Provider:
    """One provider: the variable holding its key and where its API lives.

    Attributes:
        id: the model-name prefix (``openai`` in ``openai/gpt-4o``).
        name: the name PySpur's settings page shows.
        key_var: the variable holding the API key; None when the provider needs none.
        base_url: the OpenAI-compatible endpoint; None: the SDK's own (``OPENAI_BASE_URL``).
        base_url_var: a variable that overrides ``base_url``.
        extra_vars: further settings PySpur's settings page offers for this provider.
    """

    id: str
    name: str
    key_var: str | None
    base_url: str | None = None
    base_url_var: str | None = None
    extra_vars: tuple[str, ...] = ()


PROVIDERS: dict[str, Provider] = {
    p.id: p
    for p in (
        Provider("openai", "OpenAI", "OPENAI_API_KEY"),
        Provider(
            "azure",
            "Azure OpenAI",
            "AZURE_OPENAI_API_KEY",
            base_url_var="AZURE_OPENAI_ENDPOINT",
            extra_vars=("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_VERSION"),
        ),
        Provider(
            "anthropic",
            "Anthropic",
            "ANTHROPIC_API_KEY",
            "https://api.anthropic.com/v1/",
            "ANTHROPIC_BASE_URL",
        ),
        Provider(
            "gemini",
            "Google Gemini",
            "GEMINI_API_KEY",
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "GEMINI_BASE_URL",
        ),
        Provider("deepseek", "DeepSeek", "DEEPSEEK_API_KEY", "https://api.deepseek.com/v1", None),
        Provider("xai", "xAI", "XAI_API_KEY", "https://api.x.ai/v1", None),
        Provider("ollama", "Ollama", None, "http://localhost:11434", "OLLAMA_BASE_URL"),
    )
}


def split_model(model: str) -> tuple[Provider | None, str]:
    """``"anthropic/claude-3-5-haiku-latest"`` -> (the Anthropic provider, the model name).

    A name without a prefix is OpenAI's (PySpur's templates write ``gpt-4o``). An
    unknown prefix gives ``(None, model)``.
    """
    prefix, sep, rest = model.partition("/")
    if not sep:
        return PROVIDERS["openai"], model
    return PROVIDERS.get(prefix), rest


def model_problem(model: str) -> str | None:
    """Why ``model`` names no known provider, or None."""
    provider, name = split_model(model)
    if provider is None:
        known = ", ".join(f"{p}/" for p in PROVIDERS)
        return f"model {model!r} has an unknown provider prefix (known: {known})"
    if not name:
        return f"model {model!r} names no model after the provider prefix"
    return None


def _env_lookup() -> KeyLookup:
    async def lookup(name: str) -> str | None:
        return os.environ.get(name)

    return lookup


async def make_client(
    provider: Provider, base_url: str | None, lookup: KeyLookup | None, timeout_s: float | None
) -> Any:
    """An ``AsyncOpenAI`` (or ``AsyncAzureOpenAI``) client for ``provider``.

    Raises:
        NodeFailed: not retryable, naming the variable when the provider's key is
            missing or empty, or naming the ``llm`` extra when the SDK is not installed.
    """
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise NodeFailed(
            "LLM nodes need the 'llm' extra: pip install 'spurline[llm]'", retryable=False
        ) from exc
    get = lookup or _env_lookup()
    key: str | None = "ollama"  # Ollama ignores the key, the SDK wants one
    if provider.key_var is not None:
        key = await get(provider.key_var)
        if key is None or not key.strip():
            state = "is empty" if key is not None else "is not set"
            raise NodeFailed(
                f"MissingKey: {provider.key_var} {state}; set it in the server's environment "
                f"or with POST /env-mgmt/ (provider {provider.id})",
                retryable=False,
            )
    url = base_url
    if url is None and provider.base_url_var:
        url = await get(provider.base_url_var)
    url = url or provider.base_url
    if provider.id == "ollama" and url and not url.rstrip("/").endswith("/v1"):
        url = url.rstrip("/") + "/v1"
    opts: dict[str, Any] = {"api_key": key, "max_retries": 4}
    if timeout_s is not None:
        opts["timeout"] = timeout_s
    if provider.id == "azure":
        version = await get("AZURE_OPENAI_API_VERSION") or "2024-10-21"
        if not url:
            raise NodeFailed("MissingKey: AZURE_OPENAI_ENDPOINT is not set", retryable=False)
        return openai.AsyncAzureOpenAI(azure_endpoint=url, api_version=version, **opts)
    return openai.AsyncOpenAI(base_url=url, **opts)
