"""Answers of an LLM node: the JSON schema it must fit, and parsing the raw answer
against it (see docs/pyspur.md).
"""

from __future__ import annotations

import json
import re
from typing import Any

from spurline.exceptions import NodeFailed

#: PySpur's output_schema type names -> JSON Schema types.
_JSON_TYPES = {
    "str": "string",
    "string": "string",
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "list": "array",
    "array": "array",
    "dict": "object",
    "object": "object",
}


def schema_from_fields(output_schema: dict[str, str]) -> dict[str, Any]:
    """``{"joke": "string"}`` -> a JSON Schema object requiring each field."""
    props = {name: _field_schema(t) for name, t in output_schema.items()}
    return {"type": "object", "properties": props, "required": list(output_schema)}


def _field_schema(type_name: str) -> dict[str, Any]:
    json_type = _JSON_TYPES.get(type_name.lower())
    return {"type": json_type} if json_type else {}


def parse_schema(text: str) -> dict[str, Any]:
    """``output_json_schema`` parsed and checked as a JSON Schema.

    Raises:
        ValueError: the text is not JSON, not an object schema, or not a valid schema.
    """
    from jsonschema.exceptions import SchemaError

    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"output_json_schema is not JSON: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise ValueError('output_json_schema must describe an object ({"type": "object", ...})')
    try:
        _validator(schema).check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"output_json_schema is not a valid JSON Schema: {exc.message}") from exc
    return schema


def _validator(schema: dict[str, Any]) -> Any:
    # the schema's own "$schema" picks the draft (PySpur's files use draft-07); 2020-12 otherwise
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    return validator_for(schema, default=Draft202012Validator)


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_answer(raw: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The answer as an object fitting ``schema``.

    A Markdown code fence around the JSON is removed first (models add one).

    Raises:
        NodeFailed: retryable (the model may answer better next time), with the raw
            answer in the message, when it is not a JSON object fitting ``schema``.
    """
    fenced = _FENCE.match(raw)
    text = fenced.group(1) if fenced else raw
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NodeFailed(f"InvalidAnswer: not JSON ({exc}); raw answer: {raw!r}") from exc
    if not isinstance(value, dict):
        raise NodeFailed(f"InvalidAnswer: not a JSON object; raw answer: {raw!r}")
    errors = sorted(_validator(schema)(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(map(str, errors[0].path)) or "(answer)"
        msg = f"InvalidAnswer: {where}: {errors[0].message}; raw answer: {raw!r}"
        raise NodeFailed(msg)
    return value
