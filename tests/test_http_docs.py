"""docs/http-api.md documents the HTTP contract the app serves: every endpoint of the
OpenAPI document (method + path), its query parameters, status codes and bodies, and
every field of every schema; and it names nothing the app does not serve.

The doc's format (see its "Reading this document" section): a ``### METHOD /path``
heading per endpoint, a ``### `SchemaName` `` heading per schema with a table whose
first column names each field (or each value of an enum) in backticks.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from spurline.api.app import create_app
from spurline.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "http-api.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ENDPOINT = re.compile(rf"^({'|'.join(METHODS)}) (/\S*)$")
SCHEMA = re.compile(r"^`(\w+)`$")
CODE_SPAN = re.compile(r"`([^`]+)`")
#: The section whose status codes every endpoint may answer with (auth, say).
EVERY_ENDPOINT = "Every endpoint"


def sections(markdown: str) -> dict[str, str]:
    """``{heading: body}`` of each level-3 heading (fenced code skipped); the body runs
    to the next heading."""
    found: dict[str, str] = {}
    title: str | None = None
    body: list[str] = []
    fenced = False
    for line in [*markdown.splitlines(), "# end"]:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,6} ", line):
            if title is not None:
                found[title] = "\n".join(body)
            title = line[4:].strip() if line.startswith("### ") else None
            body = []
        elif title is not None:
            body.append(line)
    return found


def table_names(body: str) -> set[str]:
    """Names in backticks in the first column of the body's table rows."""
    names: set[str] = set()
    for line in body.splitlines():
        cells = line.strip().split("|")
        if line.strip().startswith("|") and len(cells) > 2 and not set(cells[1]) <= set(" -:"):
            names |= set(CODE_SPAN.findall(cells[1]))
    return names


def ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else None


def inline_fields(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Property names (dotted when nested) of an inline schema; a ``$ref`` stops the walk
    (that schema has its own section)."""
    if ref_name(schema):
        return set()
    found: set[str] = set()
    for name, sub in schema.get("properties", {}).items():
        found.add(prefix + name)
        found |= inline_fields(sub, f"{prefix}{name}.")
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found |= inline_fields(sub, prefix)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found |= inline_fields(schema[key], prefix)
    return found


def refs(schema: dict[str, Any]) -> set[str]:
    """Schema names referenced at the top of a body schema (through lists and unions)."""
    name = ref_name(schema)
    if name:
        return {name}
    found: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found |= refs(sub)
    if isinstance(schema.get("items"), dict):
        found |= refs(schema["items"])
    return found


def body_schemas(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The request body schemas and the success (2xx) response schemas of an operation."""
    contents = [operation.get("requestBody", {}).get("content", {})]
    contents += [r.get("content", {}) for c, r in operation["responses"].items() if c[0] == "2"]
    return [m["schema"] for content in contents for m in content.values() if "schema" in m]


def schema_fields(schema: dict[str, Any]) -> set[str]:
    """What a schema's section must list: its fields, or its values for an enum."""
    if "enum" in schema:
        return {str(v) for v in schema["enum"]}
    return inline_fields(schema)


def endpoint_problems(
    endpoint: str, op: dict[str, Any], body: str, common: set[str] = frozenset()
) -> list[str]:
    """What the section ``body`` of ``endpoint`` leaves out of the operation ``op``;
    status codes in ``common`` are documented once for every endpoint."""
    bad: list[str] = []
    named = set(CODE_SPAN.findall(body))
    for p in op.get("parameters", []):
        if p["in"] != "path" and p["name"] not in named:
            bad.append(f"{endpoint}: {p['in']} parameter {p['name']} not documented")
    bad += [
        f"{endpoint}: status {code} not documented"
        for code in op["responses"]
        if code not in common and not re.search(rf"\b{code}\b", body)
    ]
    for schema in body_schemas(op):
        bad += [f"{endpoint}: body schema {n} not named" for n in sorted(refs(schema) - named)]
        missing = sorted(inline_fields(schema) - table_names(body))
        bad += [f"{endpoint}: body field {f} not documented" for f in missing]
    return bad


def schema_problems(schemas: dict[str, Any], docs: dict[str, str]) -> list[str]:
    """Schemas and fields missing from the doc's schema sections, or named there only."""
    bad: list[str] = []
    documented = {m.group(1): body for h, body in docs.items() if (m := SCHEMA.match(h))}
    for name, schema in schemas.items():
        if name not in documented:
            bad.append(f"schema {name}: not documented")
            continue
        listed, fields = table_names(documented[name]), schema_fields(schema)
        bad += [f"schema {name}: field {f} not documented" for f in sorted(fields - listed)]
        bad += [f"schema {name}: documents {f}, which it has not" for f in sorted(listed - fields)]
    bad += [f"schema {name}: documented but not served" for name in documented.keys() - schemas]
    return bad


def problems(openapi: dict[str, Any], markdown: str) -> list[str]:
    """Each way the document and the OpenAPI document disagree, one line each."""
    docs = sections(markdown)
    common = set(re.findall(r"\b[1-5]\d\d\b", docs.get(EVERY_ENDPOINT, "")))
    bad: list[str] = []
    served: set[str] = set()
    for path, operations in openapi["paths"].items():
        for method, op in operations.items():
            endpoint = f"{method.upper()} {path}"
            served.add(endpoint)
            if endpoint in docs:
                bad += endpoint_problems(endpoint, op, docs[endpoint], common)
            else:
                bad.append(f"{endpoint}: not documented")
    bad += [
        f"{e}: documented but not served" for e in docs if ENDPOINT.match(e) and e not in served
    ]
    return bad + schema_problems(openapi.get("components", {}).get("schemas", {}), docs)


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = create_app(Settings(home=tmp_path_factory.mktemp("store")))
    return app.openapi()


def test_the_doc_documents_every_endpoint_and_field(openapi: dict[str, Any]) -> None:
    assert len(openapi["paths"]) > 20
    assert problems(openapi, DOC.read_text()) == []


def test_the_check_fails_on_what_is_missing_or_not_served(openapi: dict[str, Any]) -> None:
    doc = DOC.read_text()
    # an endpoint's section removed: its heading no longer names it
    without = doc.replace("### GET /run/{run_id}/tasks/\n", "### tasks\n")
    assert problems(openapi, without) == ["GET /run/{run_id}/tasks/: not documented"]
    # a field's row removed, a query parameter, a status code and a body schema unnamed
    run_section = sections(doc)["`RunResponseSchema`"]
    row = next(line for line in run_section.splitlines() if line.startswith("| `message`"))
    assert problems(openapi, doc.replace(row + "\n", "")) == [
        "schema RunResponseSchema: field message not documented"
    ]
    runs = sections(doc)["GET /run/"]
    cut = doc.replace(runs, runs.replace("`parent_only`", "parent only").replace("422", "4xx"))
    cut = cut.replace(sections(doc)["POST /wf/"], "Creates a workflow.\n")
    assert problems(openapi, cut) == [
        "GET /run/: query parameter parent_only not documented",
        "GET /run/: status 422 not documented",
        "POST /wf/: status 200 not documented",
        "POST /wf/: status 422 not documented",
        "POST /wf/: body schema WorkflowCreateRequest not named",
        "POST /wf/: body schema WorkflowResponseSchema not named",
    ]
    # a status code documented once, in the section that applies to every endpoint
    every = sections(doc).get(EVERY_ENDPOINT)
    nul = "\nStatus: 422 when a path holds NUL.\n"
    common = cut.replace(every, every + nul) if every else f"{cut}\n### {EVERY_ENDPOINT}\n{nul}"
    assert problems(openapi, common) == [
        "GET /run/: query parameter parent_only not documented",
        "POST /wf/: status 200 not documented",
        "POST /wf/: body schema WorkflowCreateRequest not named",
        "POST /wf/: body schema WorkflowResponseSchema not named",
    ]
    # an endpoint, a schema and a field that the app does not serve
    extra = "\n### GET /run/{run_id}/nothing/\n\n### `Nothing`\n\n| `x` | y |\n"
    stale = doc.replace(row, row + "\n| `run_by` | who |") + extra
    assert problems(openapi, stale) == [
        "GET /run/{run_id}/nothing/: documented but not served",
        "schema RunResponseSchema: documents run_by, which it has not",
        "schema Nothing: documented but not served",
    ]


def test_the_dataset_upload_shows_its_multipart_body(openapi: dict[str, Any]) -> None:
    body = openapi["paths"]["/ds/"]["post"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert body["required"] is True
    assert schema["required"] == ["file"]
    assert schema["properties"]["file"]["format"] == "binary"
    assert set(schema["properties"]) == {"file", "name", "description"}


READS_BODY = re.compile(r"\brequest\.(json|form|body|stream)\(")


def schema_routes(app: FastAPI) -> list[APIRoute]:
    """The app's routes that appear in the OpenAPI document (included routers unfolded)."""
    unfold = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = [c.original_route for c in unfold(app.routes)] if unfold else app.routes
    return [r for r in routes if isinstance(r, APIRoute) and r.include_in_schema]


def test_every_endpoint_that_reads_a_body_shows_it(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    openapi = app.openapi()
    reading = [
        (method.lower(), route.path)
        for route in schema_routes(app)
        for method in route.methods
        if READS_BODY.search(inspect.getsource(route.endpoint))
    ]
    assert ("post", "/ds/") in reading
    missing = [(m, p) for m, p in reading if "requestBody" not in openapi["paths"][p][m]]
    assert missing == []
