"""PythonFuncNode: user code as the body of ``def user_function(input_model)``
(docs/runs-api.md#workflow-definitions).

The code runs in a worker process of :mod:`spurline.nodes._sandbox` with a time
limit (``config.timeout_s``, else ``SPURLINE_PYTHON_TIMEOUT_S``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spurline.nodes._sandbox import default_pool, syntax_problem
from spurline.nodes.base import BaseNode, NodeConfig, NodeContext


class PythonFuncConfig(NodeConfig):
    """``code``: the function body; it must return a dict."""

    code: str = Field(min_length=1)


class PythonFuncNode(BaseNode):
    """Runs user Python code in a separate process."""

    node_type = "PythonFuncNode"
    config_model = PythonFuncConfig
    config: PythonFuncConfig
    inline = False
    # the pool enforces config.timeout_s from the moment a worker process starts the
    # code, so time queued for a free process does not count (docs/observability.md)
    times_itself = True

    @classmethod
    def check(cls, node: Any, config: Any, definition: Any) -> list[str]:
        problem = syntax_problem(config.code)
        return [problem] if problem else []

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        from spurline.settings import get_settings

        timeout = ctx.timeout_s or get_settings().python_timeout_s
        return await default_pool().call(self.config.code, inputs, timeout, ctx)
