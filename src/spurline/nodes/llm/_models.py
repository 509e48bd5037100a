"""Models PySpur's editor offers in its model picker: ``model_constraints`` of the node
catalogue, taken from genai-prices' maintained model table (see docs/pyspur.md).
"""

from __future__ import annotations

from functools import cache
from typing import Any

#: genai-prices provider id -> PySpur's model prefix.
_PREFIXES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "deepseek": "deepseek",
    "x-ai": "xai",
}


@cache
def model_constraints() -> dict[str, dict[str, Any]]:
    """``{"openai/gpt-4o": {max_tokens, min_temperature, ...}}`` for every chat model of
    the providers above; empty when the ``llm`` extra (genai-prices) is not installed."""
    try:
        from genai_prices import data
    except ImportError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for provider in data.providers:
        prefix = _PREFIXES.get(provider.id)
        if prefix is None:
            continue
        for model in provider.models:
            if model.deprecated or "embed" in model.id or model.prices is None:
                continue
            out[f"{prefix}/{model.id}"] = {
                "max_tokens": min(model.context_window or 16384, 65536),
                "min_temperature": 0.0,
                "max_temperature": 2.0 if prefix == "openai" else 1.0,
                "supports_JSON_output": True,
                "supports_max_tokens": True,
                "supports_temperature": True,
                "supported_mime_types": [],
                "supports_reasoning": False,
                "supports_thinking": False,
            }
    return dict(sorted(out.items()))
