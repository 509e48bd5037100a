"""``initial_inputs`` for ``spurline run`` from ``--inputs FILE`` and ``--input field=value``.

``field=value`` is typed by the InputNode's ``output_schema``
(docs/runs-api.md#workflow-definitions): a ``str``
field takes the text as it is; any other field takes the value as JSON when it
parses (``3750``, ``true``, ``[1, 2]``) and as text otherwise (``NA``), so that
``enforce_schema`` (or the workflow itself) decides what text means.
``field:=json`` always parses the value as JSON (``sex:=null``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape

from spurline.cli._errors import CliError
from spurline.cli._jsonfile import read_json_object
from spurline.engine.definition import NodeDef, WorkflowDefinition
from spurline.nodes.io import InputConfig

_TEXT_TYPES = ("str", "string")


def input_node(definition: WorkflowDefinition) -> NodeDef:
    """The top-level InputNode (``parse_definition`` guarantees exactly one)."""
    return next(n for n in definition.nodes if n.node_type == "InputNode" and n.parent_id is None)


def parse_pair(pair: str, schema: dict[str, str]) -> tuple[str, Any]:
    """``(field, value)`` from ``field=value`` or ``field:=json``.

    Raises:
        CliError: no ``=``, an empty field name, or ``:=`` with a value that is not JSON.
    """
    name, sep, raw = pair.partition("=")
    as_json = name.endswith(":")
    name = name.removesuffix(":")
    if not sep or not name:
        raise CliError(f"--input takes field=value (or field:=json), got {pair!r}")
    if as_json:
        try:
            return name, orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CliError(f"--input {name}:= needs a JSON value, got {raw!r} ({exc})") from None
    if schema.get(name) in _TEXT_TYPES:
        return name, raw
    try:
        return name, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return name, raw


def read_inputs_file(path: Path, node_id: str) -> dict[str, Any]:
    """The InputNode's fields from a JSON object file (``-`` reads stdin).

    The file holds either the fields themselves ``{field: value}`` or the API's form
    ``{input_node_id: {field: value}}``.

    Raises:
        CliError: unreadable file, malformed JSON, not an object, or another node's id.
    """
    data = read_json_object(path, "--inputs")
    if isinstance(data.get(node_id), dict):
        others = [k for k in data if k != node_id]
        if others:
            raise CliError(
                f"--inputs {path} names {others[0]!r}, which is not the workflow's "
                f"InputNode ({node_id!r})"
            )
        return dict(data[node_id])
    return data


def initial_inputs(
    definition: WorkflowDefinition,
    pairs: list[str],
    inputs_file: Path | None,
    err: Console,
) -> dict[str, Any]:
    """``{input_node_id: {field: value}}``: the file's fields, then each ``--input`` over them.

    A field the InputNode's ``output_schema`` does not list is a usage error when the
    node has ``enforce_schema``, and a warning on ``err`` otherwise (a likely typo).

    Raises:
        CliError: see :func:`parse_pair` and :func:`read_inputs_file`; unknown fields.
    """
    node = input_node(definition)
    config = InputConfig.model_validate(node.config)
    schema = config.output_schema
    values = read_inputs_file(inputs_file, node.id) if inputs_file is not None else {}
    values.update(parse_pair(pair, schema) for pair in pairs)
    unknown = [name for name in values if schema and name not in schema]
    if unknown:
        known = ", ".join(schema)
        message = (
            f"the InputNode {node.id!r} has no field {', '.join(map(repr, unknown))} "
            f"(its fields: {known})"
        )
        if config.enforce_schema:
            raise CliError(message)
        err.print(f"[yellow]warning:[/] {escape(message)}; passing it anyway", highlight=False)
    return {node.id: values} if values else {}
