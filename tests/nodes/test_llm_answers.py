"""Answer parsing and prompt rendering of the LLM nodes, without a provider."""

from __future__ import annotations

import json

import pytest

from spurline.exceptions import NodeFailed
from spurline.nodes.llm._answers import parse_answer, parse_schema, schema_from_fields
from spurline.nodes.llm._prompts import render, template_problem, user_prompt
from spurline.nodes.llm._providers import model_problem, split_model

DRAFT7 = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"markdown": {"type": "string"}},
        "required": ["markdown"],
    }
)


def test_a_fenced_answer_is_parsed_and_validated() -> None:
    schema = schema_from_fields({"joke": "string", "score": "number"})
    raw = '```json\n{"joke": "a", "score": 3}\n```'
    assert parse_answer(raw, schema) == {"joke": "a", "score": 3}


def test_an_answer_missing_a_field_names_it_and_keeps_the_raw_text() -> None:
    with pytest.raises(NodeFailed) as exc:
        parse_answer('{"other": 1}', parse_schema(DRAFT7))
    assert exc.value.retryable
    assert str(exc.value) == (
        "InvalidAnswer: (answer): 'markdown' is a required property; raw answer: '{\"other\": 1}'"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "output_json_schema is not JSON"),
        ('{"type": "array"}', "must describe an object"),
        ('{"type": "object", "properties": {"a": {"type": 5}}}', "not a valid JSON Schema"),
    ],
)
def test_bad_output_json_schemas(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_schema(text)


def test_templates() -> None:
    inputs = {"In": {"topic": "otters", "n": 2}}
    assert render("{{ In.topic }} x{{ In.n + 1 }}", "system_message", inputs) == "otters x3"
    assert json.loads(user_prompt("  ", inputs)) == inputs
    assert template_problem("{% if %}", "user_message") == (
        "user_message: Jinja2 syntax error on line 1: "
        "Expected an expression, got 'end of statement block'"
    )
    with pytest.raises(NodeFailed, match="TemplateSecurityError: system_message"):
        render("{{ In.topic.__class__.__base__.__subclasses__() }}", "system_message", inputs)
    with pytest.raises(NodeFailed, match="TemplateSecurityError"):
        render("{{ In.update({'x': 1}) }}", "system_message", inputs)


def test_model_names() -> None:
    assert split_model("gpt-4o")[0] is not None and split_model("gpt-4o")[1] == "gpt-4o"
    provider, name = split_model("ollama/llama3.2")
    assert provider is not None and provider.id == "ollama" and name == "llama3.2"
    assert model_problem("nope/x") is not None and "unknown provider prefix" in str(
        model_problem("nope/x")
    )
    assert model_problem("openai/") == "model 'openai/' names no model after the provider prefix"
