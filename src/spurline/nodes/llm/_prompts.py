"""Prompt templates: ``system_message`` / ``user_message`` as sandboxed Jinja2 over the
node's inputs ``{predecessor_title: output}``, and the chat messages built from them
(see docs/pyspur.md).

The sandbox refuses attribute access that could reach Python internals
(``__class__``, ``mro`` ...) and the templates cannot mutate their inputs.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from spurline.exceptions import NodeFailed


@cache
def _env() -> ImmutableSandboxedEnvironment:
    # autoescape off: the result is a prompt, not HTML
    return ImmutableSandboxedEnvironment(autoescape=False)


def template_problem(source: str, field: str) -> str | None:
    """The syntax error of the template ``source`` (named by its config ``field``), or None."""
    try:
        _env().parse(source)
    except TemplateSyntaxError as exc:
        return f"{field}: Jinja2 syntax error on line {exc.lineno}: {exc.message}"
    return None


def render(source: str, field: str, inputs: dict[str, Any]) -> str:
    """``source`` rendered with the node's inputs as variables.

    Raises:
        NodeFailed: not retryable, when the template touches a forbidden attribute
            (the sandbox holds) or fails to render.
    """
    try:
        return _env().from_string(source).render(**inputs)
    except SecurityError as exc:
        raise NodeFailed(f"TemplateSecurityError: {field}: {exc}", retryable=False) from exc
    except (TemplateSyntaxError, UndefinedError, TypeError, ValueError) as exc:
        msg = f"TemplateError: {field}: {type(exc).__name__}: {exc}"
        raise NodeFailed(msg, retryable=False) from exc


def build_messages(
    system: str,
    user: str,
    few_shot: list[dict[str, str]] | None,
    history: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Chat messages in order: system, few-shot pairs (input as user, output as
    assistant), earlier history, then the user message."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for example in few_shot or []:
        messages.append({"role": "user", "content": example.get("input", "")})
        messages.append({"role": "assistant", "content": example.get("output", "")})
    messages.extend(history or [])
    messages.append({"role": "user", "content": user})
    return messages


def user_prompt(source: str, inputs: dict[str, Any]) -> str:
    """The rendered ``user_message``; an empty template sends the inputs as JSON."""
    if not source.strip():
        return json.dumps(inputs, indent=2, default=str)
    return render(source, "user_message", inputs)
