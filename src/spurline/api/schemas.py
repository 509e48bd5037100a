"""Request and response schemas of the HTTP API (see docs/runs-api.md).

The run, task, version and pause shapes are defined once, in
:mod:`spurline.engine.views`, which builds them as plain dicts for orjson; they are
re-exported here, beside the request models and the other response models, so that
routes and OpenAPI take every schema from this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

from spurline.engine.jsonvalue import json_problem
from spurline.engine.pauses import PauseAction
from spurline.engine.states import TaskStatus
from spurline.engine.views import (
    PauseHistoryResponseSchema,
    RunResponseSchema,
    TaskResponseSchema,
    WorkflowVersionListItem,
    WorkflowVersionResponseSchema,
)

__all__ = [
    "PauseHistoryResponseSchema",
    "RunResponseSchema",
    "TaskResponseSchema",
    "WorkflowVersionListItem",
    "WorkflowVersionResponseSchema",
]


def _strict_json(value: Any, info: ValidationInfo) -> Any:
    # Python's JSON parser accepts NaN and Infinity, which RFC 8259 JSON has not (stored,
    # they would silently become null), and values the store cannot encode (NUL, lone
    # surrogates, huge integers, deep nesting) would fail on write: 422 instead
    # (docs/runs-api.md#errors).
    problem = json_problem(value, info.field_name or "value")
    if problem:
        raise ValueError(problem)
    return value


#: A JSON object from a request body that the store can hold (see json_problem).
JsonObject = Annotated[dict[str, Any], AfterValidator(_strict_json)]


class WorkflowCreateRequest(BaseModel):
    """Body of ``POST /wf/`` and ``PUT /wf/{id}/``; ``definition`` is required on the
    root paths, and may be left out or empty under ``/api`` (docs/pyspur.md)."""

    name: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_strict_json)]
    description: Annotated[str | None, Field(max_length=100_000), AfterValidator(_strict_json)] = (
        None
    )
    definition: JsonObject | None = None


class WorkflowResponseSchema(BaseModel):
    """A workflow with its current definition."""

    id: str
    name: str
    description: str | None
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class StartRunRequest(BaseModel):
    """Body of ``start_run`` and ``run``: ``{input_node_id: {field: value}}``."""

    model_config = ConfigDict(extra="ignore")

    initial_inputs: Annotated[dict[str, dict[str, Any]], AfterValidator(_strict_json)] | None = None
    parent_run_id: str | None = None


class RunFailedDetail(BaseModel):
    """``detail`` of a blocking run that ended FAILED or CANCELED."""

    message: str
    run: RunResponseSchema


class RunFailedResponse(BaseModel):
    """422/409 body of a blocking run that did not complete."""

    detail: RunFailedDetail


class Problem(BaseModel):
    """One problem with a request: where (``loc``), what (``msg``), which kind (``type``)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ProblemsResponse(BaseModel):
    """422 body for a request that was rejected: every problem found."""

    detail: list[Problem]


class ErrorResponse(BaseModel):
    """Every error: ``{"detail": ...}`` (docs/runs-api.md#errors)."""

    detail: Any


class DatasetResponseSchema(BaseModel):
    """An uploaded dataset (docs/child-runs-and-batches.md)."""

    id: str
    name: str
    description: str | None
    columns: list[str]
    row_count: int
    uploaded_at: datetime


class OutputFileResponseSchema(BaseModel):
    """An output file's metadata (docs/child-runs-and-batches.md)."""

    id: str
    run_id: str | None
    file_name: str
    created_at: datetime
    updated_at: datetime


class BatchRunRequest(BaseModel):
    """Body of ``POST /wf/{id}/start_batch_run/``."""

    dataset_id: str = Field(min_length=1)
    mini_batch_size: int = Field(default=10, ge=1, le=1000)


class PauseActionRequest(BaseModel):
    """Body of ``POST /wf/process_pause_action/{run_id}/`` (docs/runs-api.md#pause-cancel-retry)."""

    inputs: JsonObject = Field(
        default_factory=dict,
        description="APPROVE: merged into the node's inputs; OVERRIDE: the node's output",
    )
    user_id: str = Field(min_length=1, max_length=200)
    action: PauseAction
    comments: str | None = Field(default=None, max_length=100_000)
    node_id: str | None = Field(
        default=None, description="Required when several nodes of the run are paused"
    )


class CancelRequest(BaseModel):
    """Optional body of ``POST /wf/cancel_workflow/{run_id}/``: who cancels, kept in the
    run's ``message`` ("Canceled by <user_id>")."""

    user_id: str | None = Field(default=None, min_length=1, max_length=200)


class PausedWorkflowResponseSchema(BaseModel):
    """A paused run with its unresolved pause and its workflow
    (docs/runs-api.md#pause-cancel-retry)."""

    run: RunResponseSchema
    current_pause: PauseHistoryResponseSchema | None
    workflow: WorkflowResponseSchema


class OutputVariable(BaseModel):
    """A field of a leaf node of a workflow (``GET /wf/{id}/output_variables/``)."""

    node_id: str
    variable_name: str
    prefixed_variable: str = Field(description='"<node_id>-<variable_name>"')


class PartialRunRequest(BaseModel):
    """Body of ``POST /wf/{id}/run_partial/`` (docs/pyspur.md)."""

    node_id: str = Field(min_length=1, description="the node to run")
    initial_inputs: JsonObject | None = Field(
        default=None, description="{input_node_id: {field: value}}"
    )
    partial_outputs: JsonObject | None = Field(
        default=None, description="{node_id: output} of predecessors, used instead of running them"
    )
    rerun_predecessors: bool = Field(
        default=False, description="run the predecessors too, ignoring partial_outputs"
    )


class LlmCallSchema(BaseModel):
    """One call of an LLM node to its provider (docs/pyspur.md)."""

    id: str
    run_id: str
    task_id: str | None
    node_id: str
    model: str = Field(description="as in llm_info.model, provider prefix included")
    provider: str
    messages: list[dict[str, Any]] = Field(description="the rendered chat messages sent")
    answer: str | None = Field(description="the raw answer text")
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None = Field(description="estimated from genai-prices; null when unknown")
    latency_s: float
    created_at: datetime


class AttemptResponseSchema(BaseModel):
    """One try of a task (docs/observability.md); a RUNNING task's current try has
    no ``id`` and ``started_by`` yet (they are stored when it ends)."""

    id: str | None
    task_id: str
    node_id: str
    number: int = Field(description="1 for the first try; never reused, never reset")
    status: TaskStatus
    ready_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    error: str | None
    traceback: str | None
    started_by: str | None = Field(description="run, node retry, run retry or takeover")


class LogLineResponseSchema(BaseModel):
    """One captured line of a task attempt (docs/observability.md)."""

    id: int = Field(description="the line's event id (as in the event stream)")
    task_id: str
    node_id: str
    attempt: int
    time: datetime
    stream: str = Field(description="stdout, stderr, log (logging / the log helper) or meta")
    level: str
    line: str
