"""The node catalogue and docs/nodes.md come from the node types' config models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import Field

from spurline.nodes.base import BaseNode, NodeConfig, NodeContext
from spurline.nodes.catalogue import catalogue, render_markdown
from spurline.nodes.registry import node_types

DOCS = Path(__file__).resolve().parents[2] / "docs" / "nodes.md"


def test_docs_nodes_md_is_up_to_date() -> None:
    assert DOCS.read_text() == render_markdown(), (
        "docs/nodes.md is out of date: python -m spurline.nodes.catalogue > docs/nodes.md"
    )


def test_every_node_type_is_described_from_its_config_model() -> None:
    entries = {e["name"]: e for group in catalogue().values() for e in group}
    assert set(entries) == set(node_types())
    llm = entries["SingleLLMCallNode"]
    assert llm["category"] == "AI" and llm["config"]["title"] == "Single LLM Call"
    props = llm["config"]["properties"]
    assert props["system_message"]["default"] == "You are a helpful assistant."
    assert props["output_schema"]["default"] == {"output": "string"}
    assert props["llm_info"]["default"]["model"] == "openai/gpt-4o"
    assert "openai/gpt-4o" in llm["model_constraints"]
    assert set(entries["InputNode"]["visual_tag"]) == {"acronym", "color"}
    assert entries["InputNode"]["visual_tag"]["acronym"] == "I"


class GreetConfig(NodeConfig):
    """A plugin's config."""

    greeting: str = Field(default="hello", description="what to say")


class GreetNode(BaseNode):
    """A plugin node type, registered at run time."""

    node_type = "GreetNode"
    config_model: ClassVar[type[NodeConfig]] = GreetConfig
    category = "Plugins"

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"text": "hello"}


@pytest.fixture
def greet_registered() -> Iterator[None]:
    node_types()[GreetNode.node_type] = GreetNode
    yield
    del node_types()[GreetNode.node_type]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_plugins_are_in_the_catalogue_not_in_the_docs(
    client: httpx.Client, greet_registered: None
) -> None:
    served = client.get("/api/node/supported_types/").json()
    [greet] = served["Plugins"]
    assert greet["config"]["properties"]["greeting"]["default"] == "hello"
    assert greet["config"]["title"] == "Greet"
    assert client.get("/node/supported_types/").json() == served
    assert "GreetNode" not in render_markdown()


def test_unknown_config_key_is_named_with_a_hint() -> None:
    from spurline.exceptions import DefinitionInvalid
    from spurline.nodes.registry import parse_definition

    definition = {
        "nodes": [
            {"id": "in", "node_type": "InputNode", "config": {"timeout": 1, "title": "in"}},
        ]
    }
    with pytest.raises(DefinitionInvalid) as exc:
        parse_definition(definition)
    [problem] = exc.value.problems
    assert problem["path"] == ("definition", "nodes", 0, "config", "timeout")
    assert problem["msg"] == (
        "node 'in': unknown config key 'timeout' for InputNode (did you mean 'timeout_s'?)"
    )
