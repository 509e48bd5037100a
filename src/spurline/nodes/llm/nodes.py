"""LLM node types with PySpur's config keys: SingleLLMCallNode, its deprecated alias
AdvancedLLMNode, and BestOfNNode (see docs/pyspur.md and docs/nodes.md).

A call renders the prompts (sandboxed Jinja2 over the inputs), asks the provider
for a JSON answer fitting the node's output schema, validates it, and records the
call (rendered messages, model, token usage, estimated cost, latency) through the
``llm_calls`` service when the engine provides one.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from spurline.exceptions import NodeFailed
from spurline.nodes.base import BaseNode, NodeConfig, NodeContext
from spurline.nodes.llm._answers import parse_answer, parse_schema, schema_from_fields
from spurline.nodes.llm._prompts import build_messages, render, template_problem, user_prompt
from spurline.nodes.llm._providers import (
    KeyLookup,
    Provider,
    make_client,
    model_problem,
    split_model,
)
from spurline.nodes.llm._stream import AnswerStream

#: Name of the engine service that records LLM calls (see spurline.runtime).
LLM_CALLS = "llm_calls"
#: Name of the engine service that looks provider keys up (see spurline.runtime).
PROVIDER_KEYS = "provider_keys"


class ModelInfo(BaseModel):
    """PySpur's ``llm_info``: which model, and how it samples."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="openai/gpt-4o",
        description="provider/model, as PySpur names them (openai/, anthropic/, gemini/, "
        "ollama/, azure/, deepseek/, xai/); no prefix means OpenAI",
    )
    max_tokens: int | None = Field(default=16384, ge=1, le=1_000_000)
    temperature: float | None = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float | None = Field(default=0.9, ge=0.0, le=1.0)
    base_url: str | None = Field(
        default=None, description="any OpenAI-compatible server; overrides the provider's"
    )


class SingleLLMCallConfig(NodeConfig):
    """One LLM call; the answer is a JSON object fitting the output schema."""

    max_retries: int = Field(
        default=2, ge=0, le=100, description="new tries after an answer that does not fit"
    )
    llm_info: ModelInfo = Field(default_factory=ModelInfo, description="model and sampling")
    system_message: str = Field(
        default="You are a helpful assistant.", description="Jinja2 template over the inputs"
    )
    user_message: str = Field(
        default="", description="Jinja2 template over the inputs; empty: the inputs as JSON"
    )
    few_shot_examples: list[dict[str, str]] | None = Field(
        default=None, description='[{"input": ..., "output": ...}] sent before the user message'
    )
    output_schema: dict[str, str] = Field(
        default_factory=lambda: {"output": "string"}, description="field -> type of the answer"
    )
    output_json_schema: str | None = Field(
        default=None, description="JSON Schema of the answer; wins over output_schema"
    )
    enable_message_history: bool = False
    message_history_variable: str | None = Field(
        default=None, description="input path (Title.field) of a list of earlier messages"
    )


class BestOfNConfig(SingleLLMCallConfig):
    """``samples`` answers, each rated by the model with ``rating_prompt``; the best wins."""

    samples: int = Field(default=3, ge=1, le=10, description="answers to draw")
    rating_prompt: str = Field(
        default=(
            "Rate the following response on a scale from 0 to 10, where 0 is poor and 10 is "
            "excellent. Consider factors such as relevance, coherence, and helpfulness. "
            "Respond with only a number."
        ),
        description="system message of the rating call; the answer is the user message",
    )
    rating_temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    rating_max_tokens: int = Field(default=16, ge=1, le=100_000)
    output_schema: dict[str, str] = Field(
        default_factory=lambda: {"response": "string"}, description="field -> type of the answer"
    )


_RATING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"rating": {"type": "number"}},
    "required": ["rating"],
}


class SingleLLMCallNode(BaseNode):
    """Renders the prompts, calls the model once, returns its validated JSON answer."""

    node_type = "SingleLLMCallNode"
    config_model: ClassVar[type[NodeConfig]] = SingleLLMCallConfig
    config: SingleLLMCallConfig
    inline = False
    category: ClassVar[str] = "AI"
    display_name: ClassVar[str] = "Single LLM Call"
    # Gemini file URLs and extended thinking are PySpur options Spurline does not
    # implement; workflows that carry them still load.
    pyspur_keys: ClassVar[frozenset[str]] = frozenset(
        {"url_variables", "enable_thinking", "thinking_budget_tokens"}
    )

    @classmethod
    def check(cls, node: Any, config: Any, definition: Any) -> list[str]:
        problems = [model_problem(config.llm_info.model)]
        problems += [
            template_problem(config.system_message, "system_message"),
            template_problem(config.user_message, "user_message"),
        ]
        if config.output_json_schema:
            try:
                parse_schema(config.output_json_schema)
            except ValueError as exc:
                problems.append(str(exc))
        return [p for p in problems if p]

    def answer_schema(self) -> dict[str, Any]:
        """The JSON Schema an answer must fit."""
        if self.config.output_json_schema:
            return parse_schema(self.config.output_json_schema)
        return schema_from_fields(self.config.output_schema)

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        system = render(self.config.system_message, "system_message", inputs)
        user = user_prompt(self.config.user_message, inputs)
        messages = build_messages(
            system, user, self.config.few_shot_examples, _history(self, inputs)
        )
        return await _call(self, ctx, messages, self.answer_schema())


class AdvancedLLMNode(SingleLLMCallNode):
    """Deprecated PySpur name of SingleLLMCallNode, still accepted."""

    node_type = "AdvancedLLMNode"
    display_name: ClassVar[str] = "Advanced LLM (deprecated: Single LLM Call)"


class BestOfNNode(SingleLLMCallNode):
    """Best-of-N sampling: N answers, each rated by the model; the highest rating wins."""

    node_type = "BestOfNNode"
    config_model: ClassVar[type[NodeConfig]] = BestOfNConfig
    config: BestOfNConfig
    display_name: ClassVar[str] = "Best of N"

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        system = render(self.config.system_message, "system_message", inputs)
        user = user_prompt(self.config.user_message, inputs)
        messages = build_messages(
            system, user, self.config.few_shot_examples, _history(self, inputs)
        )
        schema = self.answer_schema()
        answers = await asyncio.gather(
            *(
                _call(self, ctx, messages, schema, stream=f"llm:sample-{i}")
                for i in range(1, self.config.samples + 1)
            )
        )
        ratings = await asyncio.gather(
            *(self._rate(ctx, a, f"llm:rating-{i}") for i, a in enumerate(answers, 1))
        )
        best = max(range(len(answers)), key=lambda i: ratings[i])
        return answers[best]

    async def _rate(self, ctx: NodeContext, answer: dict[str, Any], stream: str) -> float:
        messages = build_messages(self.config.rating_prompt, json.dumps(answer), None, None)
        rated = await _call(
            self,
            ctx,
            messages,
            _RATING_SCHEMA,
            temperature=self.config.rating_temperature,
            max_tokens=self.config.rating_max_tokens,
            stream=stream,
        )
        return float(rated["rating"])


def _history(node: SingleLLMCallNode, inputs: dict[str, Any]) -> list[dict[str, Any]] | None:
    cfg = node.config
    if not (cfg.enable_message_history and cfg.message_history_variable):
        return None
    value: Any = inputs
    for part in cfg.message_history_variable.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is not None and not isinstance(value, list):
        raise NodeFailed(
            f"message_history_variable {cfg.message_history_variable!r} is not a list",
            retryable=False,
        )
    return value


def _response_format(provider: Provider, schema: dict[str, Any]) -> dict[str, Any]:
    if provider.id in ("openai", "azure"):
        return {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": False},
        }
    return {"type": "json_object"}


async def _call(
    node: SingleLLMCallNode,
    ctx: NodeContext,
    messages: list[dict[str, Any]],
    schema: dict[str, Any],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: str = "llm",
) -> dict[str, Any]:
    """One streamed chat completion whose answer must fit ``schema``; the call is
    recorded, and its text published as it arrives as log lines of ``stream``
    (docs/pyspur.md, "Streamed answers").

    Raises:
        NodeFailed: the provider failed or its answer does not fit ``schema``.
    """
    info = node.config.llm_info
    provider, model = split_model(info.model)
    if provider is None:  # caught at save; a draft saved under /api gets here
        raise NodeFailed(f"{model_problem(info.model)}", retryable=False)
    if provider.id not in ("openai", "azure"):
        # providers without json_schema mode get the schema in the system message
        hint = f"\n\nAnswer with one JSON object fitting this JSON Schema:\n{json.dumps(schema)}"
        messages = [{**messages[0], "content": messages[0]["content"] + hint}, *messages[1:]]
    lookup: KeyLookup | None = ctx.services.get(PROVIDER_KEYS)
    client = await make_client(provider, info.base_url, lookup, ctx.timeout_s)
    params: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "response_format": _response_format(provider, schema),
    }
    for key, value in (
        ("temperature", info.temperature if temperature is None else temperature),
        ("max_tokens", info.max_tokens if max_tokens is None else max_tokens),
        ("top_p", info.top_p),
    ):
        if value is not None:
            params[key] = value
    started = time.perf_counter()
    out = AnswerStream(ctx, stream)
    parts: list[str] = []
    usage: Any = None
    answered_by = model
    try:
        chunks = await client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in chunks:
            answered_by = chunk.model or answered_by
            usage = chunk.usage or usage
            text = (chunk.choices[0].delta.content or "") if chunk.choices else ""
            if text:
                parts.append(text)
                await out.add(text)
        await out.close()
    except Exception as exc:
        raise _provider_error(provider, exc) from exc
    finally:
        await client.close()
    latency = time.perf_counter() - started
    raw = "".join(parts)
    call = {
        "node_id": ctx.node_id,
        "model": info.model,
        "provider": provider.id,
        "messages": messages,
        "answer": raw,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "cost_usd": _cost(provider, answered_by, usage),
        "latency_s": round(latency, 6),
    }
    recorder = ctx.services.get(LLM_CALLS)
    if recorder is not None:
        await recorder(ctx, call)
    return parse_answer(raw, schema)


def _provider_error(provider: Provider, exc: Exception) -> NodeFailed:
    import openai

    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.APITimeoutError):
        return NodeFailed(f"ProviderTimeout: {provider.id}: {exc}", retryable=False)
    if isinstance(exc, openai.APIStatusError):
        # the SDK already retried 429/5xx with backoff; what is left is final
        detail = _short(exc.response.text)
        return NodeFailed(
            f"ProviderError: {provider.id} answered {status}: {detail}", retryable=False
        )
    if isinstance(exc, openai.APIConnectionError):
        return NodeFailed(f"ProviderUnreachable: {provider.id}: {exc}", retryable=False)
    # e.g. a body that is not JSON: worth another try
    return NodeFailed(f"ProviderError: {provider.id}: {type(exc).__name__}: {exc}")


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _cost(provider: Provider, model: str, usage: Any) -> float | None:
    """Estimated cost in USD from genai-prices' table; None when the model is not in it."""
    if usage is None:
        return None
    try:
        from genai_prices import Usage, calc_price

        price = calc_price(
            Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
            model_ref=model,
            provider_id=_PRICE_PROVIDERS.get(provider.id, provider.id),
        )
    except Exception:  # unknown model or provider: no estimate rather than a failed task
        return None
    return float(Decimal(price.total_price))


#: Provider ids of genai-prices where they differ from PySpur's prefixes.
_PRICE_PROVIDERS = {"gemini": "google", "xai": "x-ai"}
