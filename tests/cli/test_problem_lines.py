"""How the CLI prints the problems of a rejected request: from a domain error (field
paths) and from a server's 422 (HTTP locations), the same way."""

from __future__ import annotations

from spurline.cli._errors import problem_lines


def test_paths_and_http_locations_print_alike() -> None:
    domain = [{"path": ("definition", "nodes", 0, "config"), "msg": "bad config"}]
    http = [{"loc": ["body", "definition", "nodes", 0, "config"], "msg": "bad config"}]
    assert problem_lines(domain) == problem_lines(http) == ["bad config (at nodes.0.config)"]
    assert problem_lines([{"loc": ["body", "user_id"], "msg": "too short"}]) == [
        "too short (at user_id)"
    ]
    named = [{"loc": ["body", "definition", "nodes", 1], "msg": "node 'a': unknown node_type"}]
    assert problem_lines(named) == ["node 'a': unknown node_type"]
