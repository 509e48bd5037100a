"""Bad input (issue 2, SPEC §3, §8): a 4xx that names each problem, never a 5xx, never a
half-written record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.api._contract import assert_still_serving, link, node, one_step, py, start, wait_run

JSON = {"content-type": "application/json"}


@pytest.fixture
def client(shared_client: httpx.Client) -> httpx.Client:
    """Rejections leave no trace, so every test here shares one server per backend."""
    return shared_client


def counts(client: httpx.Client) -> tuple[str, str]:
    """(number of workflows, number of runs) stored."""
    return client.get("/wf/").headers["x-total-count"], client.get("/run/").headers["x-total-count"]


def rejected(client: httpx.Client, definition: Any) -> list[dict[str, Any]]:
    """POST the definition; assert 422 and that no workflow was stored; return the problems."""
    before = counts(client)
    r = client.post("/wf/", json={"name": "bad", "definition": definition})
    assert r.status_code == 422, r.text
    assert counts(client) == before
    detail: list[dict[str, Any]] = r.json()["detail"]
    return detail


def no_runs_of(client: httpx.Client, wf_id: str) -> bool:
    """Whether the workflow has no run, by both the workflow's and the global run list."""
    by_wf = client.get(f"/wf/{wf_id}/runs/")
    by_filter = client.get("/run/", params={"workflow_id": wf_id})
    return (by_wf.headers["x-total-count"], by_wf.json(), by_filter.json()) == ("0", [], [])


def messages(problems: list[dict[str, Any]]) -> list[str]:
    return [p["msg"] for p in problems]


def test_malformed_json_body(client: httpx.Client) -> None:
    r = client.post("/wf/", content=b'{"name": "x", "definition": {', headers=JSON)
    assert r.status_code == 422
    assert r.json() == {
        "detail": [{"type": "json_invalid", "loc": ["body", 29], "msg": "JSON decode error"}]
    }


def test_malformed_json_body_on_start_run(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    r = client.post(f"/wf/{wf_id}/start_run/", content=b"{initial_inputs", headers=JSON)
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"
    assert no_runs_of(client, wf_id)


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({}, "no Content-Type"),
        ({"content-type": "text/plain"}, "'text/plain'"),
        # what curl --data sends (fresh-user trial)
        (
            {"content-type": "application/x-www-form-urlencoded"},
            "'application/x-www-form-urlencoded'",
        ),
    ],
)
def test_a_json_body_without_its_content_type_says_so(
    client: httpx.Client, make_workflow: Callable[..., str], headers: dict[str, str], said: str
) -> None:
    wf_id = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    r = client.post(f"/wf/{wf_id}/start_run/", content=b'{"initial_inputs": {}}', headers=headers)
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body"]
    assert said in problem["msg"]
    assert problem["msg"].endswith("send the JSON body with Content-Type: application/json)")
    assert no_runs_of(client, wf_id)


@pytest.mark.parametrize("path", ["/wf/", "/wf/WX/start_run/", "/wf/WX/run/"])
def test_body_that_is_not_utf8_is_422(client: httpx.Client, path: str) -> None:
    r = client.post(path, content=b'{"name": "\xff\xfe"}', headers=JSON)
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {"loc": ["body"], "msg": "request body is not UTF-8 JSON", "type": "json_invalid"}
        ]
    }


def test_body_nested_past_the_parser_is_422(client: httpx.Client) -> None:
    r = client.post("/wf/", content=b"[" * 50_000 + b"]" * 50_000, headers=JSON)
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "loc": ["body"],
                "msg": "request body JSON is nested too deeply",
                "type": "json_invalid",
            }
        ]
    }


def nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_definition_nested_too_deeply_is_422(client: httpx.Client) -> None:
    # Deeper than the store can encode (orjson stops at 254 levels): rejected up front.
    definition = {
        "nodes": [node("in", "InputNode"), node("s", "StaticValueNode", values={"v": nested(300)})],
        "links": [],
    }
    before = counts(client)
    r = client.post("/wf/", json={"name": "deep", "definition": definition})
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["msg"].startswith("Value error, definition.nodes[1].config.values.v[0][0]")
    assert problem["msg"].endswith("is nested more than 100 levels deep")
    assert counts(client) == before


def test_initial_inputs_nested_too_deeply_are_422(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    r = client.post(f"/wf/{wf_id}/start_run/", json={"initial_inputs": {"in": {"v": nested(300)}}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"].endswith("is nested more than 100 levels deep")
    assert no_runs_of(client, wf_id)


@pytest.mark.parametrize(
    ("literal", "problem"),
    [
        ('"a\\u0000b"', "is a string with a NUL character (\\u0000), which the store cannot hold"),
        ('"\\ud800"', "is a string with an unpaired surrogate, not valid UTF-8"),
        ("18446744073709551616", "is an integer beyond 64 bits, which JSON storage cannot hold"),
    ],
)
def test_values_the_store_cannot_hold_are_422(
    client: httpx.Client, make_workflow: Callable[..., str], literal: str, problem: str
) -> None:
    definition = {
        "nodes": [node("in", "InputNode"), node("s", "StaticValueNode", values={"x": "X"})],
        "links": [],
    }
    before = counts(client)
    body = json.dumps({"name": "x", "definition": definition}).replace('"X"', literal)
    r = client.post("/wf/", content=body.encode(), headers=JSON)
    assert r.status_code == 422
    assert (
        r.json()["detail"][0]["msg"]
        == f"Value error, definition.nodes[1].config.values.x {problem}"
    )
    assert counts(client) == before
    wf_id = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    body = json.dumps({"initial_inputs": {"in": {"x": "X"}}}).replace('"X"', literal)
    r = client.post(f"/wf/{wf_id}/start_run/", content=body.encode(), headers=JSON)
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == f"Value error, initial_inputs.in.x {problem}"
    assert no_runs_of(client, wf_id)


def test_name_with_nul_is_422(client: httpx.Client) -> None:
    definition = {"nodes": [node("in", "InputNode")], "links": []}
    before = counts(client)
    r = client.post("/wf/", json={"name": "a\x00b", "definition": definition})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "name"]
    assert counts(client) == before


@pytest.mark.parametrize(
    ("path", "where"),
    [("/run/R%00/", "path"), ("/wf/W%00/runs/", "path"), ("/run/?run_type=a%00", "query")],
)
def test_nul_in_path_or_query_is_422(client: httpx.Client, path: str, where: str) -> None:
    r = client.get(path)
    assert r.status_code == 422
    assert r.json() == {
        "detail": [{"loc": [where], "msg": "must not contain NUL (%00)", "type": "value_error"}]
    }


@pytest.mark.parametrize(
    ("path", "param"),
    [
        (f"/run/R1/logs/?attempt={10**30}", "attempt"),
        (f"/wf/W1/version_diff/?a={10**30}&b=1", "a"),
    ],
)
def test_integer_query_past_what_the_store_holds_is_422(
    client: httpx.Client, path: str, param: str
) -> None:
    # the store's integers are 64-bit: a larger one reached SQLite and was a 500
    r = client.get(path)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", param]


def test_body_that_is_not_an_object(client: httpx.Client) -> None:
    r = client.post("/wf/", content=b"[1, 2]", headers=JSON)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_number_in_definition(client: httpx.Client, literal: str) -> None:
    # Python's json accepts these; JSON does not, and storing them would turn them into null.
    definition = {
        "nodes": [node("in", "InputNode"), node("s", "StaticValueNode", values={"x": "X"})],
        "links": [link("in", "s")],
    }
    body = json.dumps({"name": "x", "definition": definition}).replace('"X"', literal)
    before = counts(client)
    r = client.post("/wf/", content=body.encode(), headers=JSON)
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body", "definition"]
    assert "definition.nodes[1].config.values.x is" in problem["msg"]
    assert "which JSON cannot represent" in problem["msg"]
    assert counts(client) == before


def test_cycle(client: httpx.Client) -> None:
    problems = rejected(
        client,
        {
            "nodes": [node("in", "InputNode"), node("a", "MergeNode"), node("b", "MergeNode")],
            "links": [link("in", "a"), link("a", "b"), link("b", "a")],
        },
    )
    assert problems == [
        {
            "loc": ["definition", "links"],
            "msg": "the links form a cycle through nodes a, b",
            "type": "cycle",
            "node_ids": ["a", "b"],
        }
    ]


def test_self_link(client: httpx.Client) -> None:
    problems = rejected(client, {"nodes": [node("in", "InputNode")], "links": [link("in", "in")]})
    assert messages(problems) == ["link 0 (in -> in): a node cannot link to itself"]


def test_dangling_link(client: httpx.Client) -> None:
    problems = rejected(
        client, {"nodes": [node("in", "InputNode")], "links": [link("ghost", "in")]}
    )
    assert problems == [
        {
            "loc": ["definition", "links", 0, "source_id"],
            "msg": "link 0 (ghost -> in): source_id 'ghost' is not a node",
            "type": "dangling_link",
        }
    ]


def test_duplicate_id(client: httpx.Client) -> None:
    problems = rejected(
        client,
        {
            "nodes": [
                node("in", "InputNode"),
                node("s", "MergeNode", "S1"),
                node("s", "MergeNode", "S2"),
            ],
            "links": [],
        },
    )
    assert problems == [
        {
            "loc": ["definition", "nodes", 2, "id"],
            "msg": "duplicate node id 's'",
            "type": "duplicate_id",
            "node_id": "s",
        }
    ]


def test_duplicate_and_invalid_titles(client: httpx.Client) -> None:
    problems = rejected(
        client,
        {
            "nodes": [
                node("in", "InputNode", "Same"),
                node("a", "MergeNode", "Same"),
                node("b", "MergeNode", "not an identifier"),
            ],
            "links": [],
        },
    )
    assert messages(problems) == [
        "duplicate node title 'Same' (node 'a')",
        "node 'b': title 'not an identifier' is not a valid identifier",
    ]


def test_two_input_nodes(client: httpx.Client) -> None:
    problems = rejected(
        client, {"nodes": [node("in", "InputNode"), node("in2", "InputNode")], "links": []}
    )
    assert messages(problems) == [
        "a workflow needs exactly one top-level InputNode, found 2: in, in2"
    ]


def test_no_input_node(client: httpx.Client) -> None:
    problems = rejected(client, {"nodes": [node("m", "MergeNode")], "links": []})
    assert messages(problems) == ["a workflow needs exactly one top-level InputNode, found 0"]


def test_unknown_node_type(client: httpx.Client) -> None:
    problems = rejected(
        client, {"nodes": [node("in", "InputNode"), node("x", "TeleportNode")], "links": []}
    )
    assert problems == [
        {
            "loc": ["definition", "nodes", 1, "node_type"],
            "msg": "node 'x': unknown node_type 'TeleportNode'",
            "type": "unknown_node_type",
            "node_id": "x",
        }
    ]


def test_python_code_with_syntax_error(client: httpx.Client) -> None:
    problems = rejected(
        client,
        {"nodes": [node("in", "InputNode"), py("x = (1,\nreturn x", "p")], "links": []},
    )
    assert len(problems) == 1
    assert problems[0]["node_id"] == "p"
    assert problems[0]["loc"] == ["definition", "nodes", 1, "config"]
    assert problems[0]["msg"].startswith("node 'p': code does not compile:")


def test_router_link_without_route(client: httpx.Client) -> None:
    router = node("r", "RouterNode", route_map={"yes": {"conditions": []}})
    problems = rejected(
        client,
        {
            "nodes": [
                node("in", "InputNode"),
                router,
                node("a", "MergeNode"),
                node("b", "MergeNode"),
            ],
            "links": [link("in", "r"), link("r", "a"), link("r", "b", "maybe")],
        },
    )
    assert messages(problems) == [
        "link 1 (r -> a): a link out of router 'r' must name a route in source_handle",
        "link 2 (r -> b): route 'maybe' is not in 'r''s route_map (yes)",
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"code": "return {}", "max_retries": -1}, "config.max_retries: Input should be greater"),
        ({"code": "return {}", "timeout_s": 0}, "config.timeout_s: Input should be greater"),
        ({}, "config.code: Field required"),
        ({"code": 7}, "config.code: Input should be a valid string"),
    ],
)
def test_bad_node_config(client: httpx.Client, config: dict[str, Any], message: str) -> None:
    problems = rejected(
        client,
        {"nodes": [node("in", "InputNode"), node("p", "PythonFuncNode", **config)], "links": []},
    )
    assert len(problems) == 1
    assert problems[0]["node_id"] == "p"
    assert problems[0]["msg"].startswith(f"node 'p': {message}")


def test_every_problem_of_a_definition_is_reported(client: httpx.Client) -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("in", "InputNode", "In2"),
            node("x", "TeleportNode"),
            py("return {", "p"),
            node("r", "RouterNode", route_map={"a": {"conditions": []}}),
            node("m", "MergeNode"),
            node("n", "MergeNode"),
        ],
        "links": [
            link("in", "ghost"),
            link("r", "p"),
            link("m", "n"),
            link("n", "m"),
        ],
    }
    problems = rejected(client, definition)
    assert [(p["type"], p.get("node_id")) for p in problems] == [
        ("duplicate_id", "in"),
        ("unknown_node_type", "x"),
        ("config", "p"),
        ("input_count", None),
        ("dangling_link", None),
        ("link", None),
        ("cycle", None),
    ]
    assert (
        messages(problems)[3] == "a workflow needs exactly one top-level InputNode, found 2: in, in"
    )
    assert "target_id 'ghost' is not a node" in messages(problems)[4]
    assert messages(problems)[6] == "the links form a cycle through nodes m, n"


def test_definition_of_wrong_shape(client: httpx.Client) -> None:
    problems = rejected(client, {"nodes": [{"id": "", "node_type": 3}], "links": "none"})
    assert [p["loc"] for p in problems] == [
        ["definition", "nodes", 0, "id"],
        ["definition", "nodes", 0, "node_type"],
        ["definition", "links"],
    ]


def test_put_with_bad_definition_keeps_the_workflow(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    good = {"nodes": [node("in", "InputNode")], "links": []}
    wf_id = make_workflow(good)
    r = client.put(f"/wf/{wf_id}/", json={"name": "n", "definition": {"nodes": [], "links": []}})
    assert r.status_code == 422
    assert messages(r.json()["detail"]) == [
        "a workflow needs exactly one top-level InputNode, found 0"
    ]
    assert client.get(f"/wf/{wf_id}/").json()["definition"] == good
    assert len(client.get(f"/wf/{wf_id}/versions/").json()) == 1


# -- unknown ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "/run/RUNKNOWN/", "Run not found"),
        ("GET", "/run/RUNKNOWN", "Run not found"),
        ("GET", "/run/RUNKNOWN/status/", "Run not found"),
        ("GET", "/run/RUNKNOWN/tasks/", "Run not found"),
        ("GET", "/run/RUNKNOWN/children/", "Run not found"),
        ("DELETE", "/run/RUNKNOWN/", "Run not found"),
        ("GET", "/wf/WUNKNOWN/", "Workflow not found"),
        ("DELETE", "/wf/WUNKNOWN/", "Workflow not found"),
        ("GET", "/wf/WUNKNOWN/versions/", "Workflow not found"),
        ("GET", "/wf/WUNKNOWN/runs/", "Workflow not found"),
        ("POST", "/wf/WUNKNOWN/start_run/", "Workflow not found"),
        ("POST", "/wf/WUNKNOWN/run/", "Workflow not found"),
    ],
)
def test_unknown_id_is_404(client: httpx.Client, method: str, path: str, detail: str) -> None:
    body = {"initial_inputs": None} if method == "POST" else None
    r = client.request(method, path, json=body)
    assert r.status_code == 404
    assert r.json() == {"detail": detail}


def test_put_unknown_workflow_is_404(client: httpx.Client) -> None:
    definition = {"nodes": [node("in", "InputNode")], "links": []}
    r = client.put("/wf/WUNKNOWN/", json={"name": "n", "definition": definition})
    assert r.status_code == 404
    assert r.json() == {"detail": "Workflow not found"}


# -- paging parameters ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/run/", "/wf/", "/wf/{wf}/runs/"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "one"}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
    ],
)
def test_out_of_range_paging_is_422(
    client: httpx.Client,
    make_workflow: Callable[..., str],
    path: str,
    params: dict[str, Any],
    field: str,
) -> None:
    wf_id = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    r = client.get(path.format(wf=wf_id), params=params)
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["query", field]


def test_paging_limits_are_inclusive(client: httpx.Client) -> None:
    assert client.get("/run/", params={"page": 1, "page_size": 1}).status_code == 200
    assert client.get("/run/", params={"page": 1, "page_size": 100}).status_code == 200
    r = client.get("/run/", params={"page": 99, "page_size": 100})
    assert (r.status_code, r.json()) == (200, [])


def test_unknown_status_filter_is_422(client: httpx.Client) -> None:
    r = client.get("/run/", params={"status": "DONE"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "status", 0]


# -- initial inputs -----------------------------------------------------------------------

ENFORCED = {
    "nodes": [
        node(
            "in", "InputNode", output_schema={"name": "str", "mass": "float"}, enforce_schema=True
        ),
        node("out", "OutputNode"),
    ],
    "links": [link("in", "out")],
}


@pytest.mark.parametrize("endpoint", ["start_run", "run"])
@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            {"input": {"name": "a", "mass": 1.0}},
            [
                "initial_inputs names 'input', which is not the workflow's InputNode ('in')",
                "initial_inputs['in'] is missing field 'name' (str)",
                "initial_inputs['in'] is missing field 'mass' (float)",
            ],
        ),
        ({"in": {"name": "a"}}, ["initial_inputs['in'] is missing field 'mass' (float)"]),
        (
            {"in": {"name": 5, "mass": "heavy"}},
            [
                "initial_inputs['in'].name must be str, got int",
                "initial_inputs['in'].mass must be float, got str",
            ],
        ),
        (
            None,
            [
                "initial_inputs['in'] is missing field 'name' (str)",
                "initial_inputs['in'] is missing field 'mass' (float)",
            ],
        ),
    ],
)
def test_bad_initial_inputs_are_422_and_create_no_run(
    client: httpx.Client,
    make_workflow: Callable[..., str],
    endpoint: str,
    inputs: Any,
    expected: list[str],
) -> None:
    wf_id = make_workflow(ENFORCED)
    r = client.post(f"/wf/{wf_id}/{endpoint}/", json={"initial_inputs": inputs})
    assert r.status_code == 422
    # Sorted: PostgreSQL's JSONB does not keep the order of output_schema's keys.
    assert sorted(messages(r.json()["detail"])) == sorted(expected)
    assert no_runs_of(client, wf_id)


def test_initial_inputs_for_wrong_node_without_schema(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    r = client.post(f"/wf/{wf_id}/start_run/", json={"initial_inputs": {"elsewhere": {"x": 1}}})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "initial_inputs", "elsewhere"],
            "msg": "initial_inputs names 'elsewhere', which is not the workflow's InputNode ('in')",
            "type": "node",
        }
    ]
    assert no_runs_of(client, wf_id)


def test_initial_inputs_of_wrong_shape(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    for body in ({"initial_inputs": {"in": 5}}, {"initial_inputs": [1]}):
        r = client.post(f"/wf/{wf_id}/start_run/", json=body)
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"][:2] == ["body", "initial_inputs"]
    r = client.post(
        f"/wf/{wf_id}/start_run/",
        content=b'{"initial_inputs": {"in": {"x": NaN}}}',
        headers=JSON,
    )
    assert r.status_code == 422
    assert "is nan, which JSON cannot represent" in r.json()["detail"][0]["msg"]
    assert no_runs_of(client, wf_id)


def test_valid_enforced_inputs_run(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    wf_id = make_workflow(ENFORCED)
    r = client.post(f"/wf/{wf_id}/run/", json={"initial_inputs": {"in": {"name": "a", "mass": 2}}})
    assert (r.status_code, r.json()["out"]) == (200, {"name": "a", "mass": 2})


# -- outputs JSON cannot hold ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (
            "return {'blob': b'abc'}",
            "OutputNotJSON: output.blob is of type bytes, which JSON cannot represent",
        ),
        (
            "return {'x': float('nan')}",
            "OutputNotJSON: output.x is nan, which JSON cannot represent",
        ),
        (
            "return {'x': [1, float('inf')]}",
            "OutputNotJSON: output.x[1] is inf, which JSON cannot represent",
        ),
        (
            "return {'tags': {'a', 'b'}}",
            "OutputNotJSON: output.tags is of type set, which JSON cannot represent",
        ),
        (
            "return {1: 'one'}",
            "OutputNotJSON: output has a key 1 of type int; JSON keys are strings",
        ),
        (
            "return {'f': lambda: 1}",
            "OutputNotJSON: output.f is of type function, which JSON cannot represent",
        ),
        ("return ['not', 'a', 'dict']", "TypeError: the code must return a dict, got list"),
        (
            "return {'s': 'a\\x00b'}",
            "OutputNotJSON: output.s is a string with a NUL character (\\u0000), "
            "which the store cannot hold",
        ),
        (
            "return {'big': 2 ** 64}",
            "OutputNotJSON: output.big is an integer beyond 64 bits, "
            "which JSON storage cannot hold",
        ),
        (
            "d = 'x'\nfor _ in range(300):\n    d = [d]\nreturn {'d': d}",
            "OutputNotJSON: output.d" + "[0]" * 24 + "... is nested more than 100 levels deep",
        ),
    ],
)
def test_output_json_cannot_hold_fails_the_task(
    client: httpx.Client, make_workflow: Callable[..., str], code: str, error: str
) -> None:
    wf_id = make_workflow(
        {
            "nodes": [node("in", "InputNode"), py(code, "p"), node("after", "MergeNode")],
            "links": [link("in", "p"), link("p", "after")],
        }
    )
    run = wait_run(client, start(client, wf_id))
    assert run["status"] == "FAILED"
    assert run["message"] == f"Node 'p' failed: {error}"
    tasks = {t["node_id"]: t for t in run["tasks"]}
    assert (tasks["p"]["status"], tasks["p"]["error"], tasks["p"]["outputs"]) == (
        "FAILED",
        error,
        None,
    )
    assert (tasks["after"]["status"], tasks["after"]["error"]) == ("CANCELED", None)
    assert_still_serving(client, make_workflow)


def test_code_that_kills_its_process_fails_the_task(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(one_step("import os\nos._exit(3)"))
    run = wait_run(client, start(client, wf_id))
    assert run["status"] == "FAILED"
    assert run["tasks"][1]["error"].startswith("ProcessExpired: the code's process died")
    assert_still_serving(client, make_workflow)


def test_blocking_run_of_failing_workflow_is_422_with_the_run(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(one_step("raise KeyError('k')"))
    r = client.post(f"/wf/{wf_id}/run/", json={})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["message"] == "Node 'p' failed: KeyError: 'k'"
    assert detail["run"]["status"] == "FAILED"
    assert detail["run"]["message"] == detail["message"]
