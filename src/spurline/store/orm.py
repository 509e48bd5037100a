"""SQLAlchemy 2 typed models: the schema (docs/architecture.md#store), mirrored by the Alembic
migrations.

JSON columns are JSONB on PostgreSQL. Datetimes are stored in UTC and always come
back timezone-aware.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JsonType = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        # SQLite hands back the stored text; one C-level parse with the UTC offset
        # appended replaces three Python-level steps (TypeDecorator wrapper, the
        # dialect's parser, tzinfo replace). Reading a 1,000-task run parses 2,000 of these.
        if dialect.name == "sqlite":
            return _sqlite_utc
        return super().result_processor(dialect, coltype)


def _sqlite_utc(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value + "+00:00")


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {dict[str, Any]: JsonType, datetime: UtcDateTime}


class Workflow(Base):
    """A named workflow; ``definition`` is its current version's."""

    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]]
    current_version_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_workflows_created", "created_at", "id"),)


class WorkflowVersion(Base):
    """An immutable version of a workflow's definition."""

    __tablename__ = "workflow_versions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]]
    definition_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("workflow_id", "version", name="uq_versions_wf_version"),)


class Run(Base):
    """One execution of a workflow version."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    workflow_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflow_versions.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    initial_inputs: Mapped[dict[str, Any] | None]
    parent_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    parent_task_id: Mapped[str | None] = mapped_column(String(40))
    seq: Mapped[int | None] = mapped_column(Integer)
    run_type: Mapped[str] = mapped_column(String(32))
    output_file_id: Mapped[str | None] = mapped_column(String(40))
    input_dataset_id: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    mini_batch_size: Mapped[int | None] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[datetime | None]
    scope: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str | None] = mapped_column(String(100))
    canceled_by: Mapped[str | None] = mapped_column(String(100))
    retried_by: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str] | None] = mapped_column(JsonType)
    run_metadata: Mapped[dict[str, Any] | None]
    schedule_id: Mapped[str | None] = mapped_column(String(40))
    scheduled_for: Mapped[datetime | None]
    rerun_of: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_runs_start", "start_time", "id"),
        # one run per schedule and fire time, whatever races (docs/operations.md)
        Index("uq_runs_schedule_fire", "schedule_id", "scheduled_for", unique=True),
        Index("ix_runs_rerun_of", "rerun_of"),
        Index("ix_runs_workflow_start", "workflow_id", "start_time", "id"),
        Index("ix_runs_parent_seq", "parent_run_id", "seq", "start_time", "id"),
        Index("ix_runs_status_start", "status", "start_time", "id"),
        Index("ix_runs_lease", "status", "lease_expires_at"),
        # The UI's runs page: parents newest first, and parents per status.
        Index("ix_runs_parent_start", "parent_run_id", "start_time", "id"),
        Index("ix_runs_parent_status", "parent_run_id", "status", "start_time"),
        # GET /run/?run_type= and ?schedule_id= pages (docs/runs-api.md#endpoints-and-paging)
        Index("ix_runs_type_start", "run_type", "start_time", "id"),
        Index("ix_runs_schedule_start", "schedule_id", "start_time", "id"),
    )


class RunCount(Base):
    """How many runs there are per workflow, status, run type and level (``child``:
    a child run), for ``X-Total-Count`` without counting runs
    (docs/runs-api.md#endpoints-and-paging). Kept by triggers on SQLite (migration
    ``speed_reads``); empty on PostgreSQL, which counts with its indexes."""

    __tablename__ = "run_counts"

    workflow_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    run_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    child: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class RunTimeCount(Base):
    """How many runs started in each minute, hour and day (``span``: 60, 3600 or
    86400 seconds; ``bucket``: the start time's first 16, 13 or 10 characters as
    SQLite stores it) per workflow, status, run type and level, so that a
    ``start_date``/``end_date`` range is counted from whole buckets plus the runs of
    its two partial minutes (docs/runs-api.md#endpoints-and-paging). Kept by triggers
    on SQLite (migration ``speed_time_counts``); empty on PostgreSQL, like
    ``run_counts``."""

    __tablename__ = "run_time_counts"

    span: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket: Mapped[str] = mapped_column(String(16), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    run_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    child: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = {"sqlite_with_rowid": False}


class Task(Base):
    """One node's execution inside a run."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(200))
    node_type: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    inputs: Mapped[dict[str, Any] | None]
    outputs: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    traceback: Mapped[str | None] = mapped_column(Text)
    ready_time: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("run_id", "node_id", name="uq_tasks_run_node"),
        Index("ix_tasks_run_position", "run_id", "position"),
    )


class TaskAttempt(Base):
    """One try of a task (docs/observability.md): node retries, run retries, takeovers.

    Keyed by (task, number), the only way attempts are looked up; on SQLite without a
    rowid, so the key is the table: one B-tree written per node step instead of three
    (the table, a unique index on ``id`` and one on (task, number)). ``id`` is unique by
    construction (a ULID) and never looked up.
    """

    __tablename__ = "task_attempts"

    id: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(200))
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    ready_time: Mapped[datetime | None]
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = {"sqlite_with_rowid": False}


# SQLite only makes an INTEGER PRIMARY KEY an alias of its rowid (autoincrementing).
EventId = BigInteger().with_variant(Integer(), "sqlite")


class RunEvent(Base):
    """One entry of the event stream: a run or task state change, a log line, batch
    progress (docs/observability.md). ``id`` grows in commit order.
    """

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    workflow_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str | None] = mapped_column(String(40))
    node_id: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int | None] = mapped_column(Integer)
    time: Mapped[datetime]
    data: Mapped[dict[str, Any]]

    __table_args__ = (
        Index("ix_events_run", "run_id", "id"),
        Index("ix_events_workflow", "workflow_id", "id"),
    )


class PauseRecord(Base):
    """One pause of a run at a HumanInterventionNode (docs/runs-api.md#pause-cancel-retry)."""

    __tablename__ = "pause_records"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(200))
    pause_message: Mapped[str | None] = mapped_column(Text)
    pause_time: Mapped[datetime]
    resume_time: Mapped[datetime | None]
    resume_user_id: Mapped[str | None] = mapped_column(String(200))
    resume_action: Mapped[str | None] = mapped_column(String(16))
    input_data: Mapped[dict[str, Any] | None]
    comments: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_pauses_run_time", "run_id", "pause_time"),)


class Dataset(Base):
    """An uploaded dataset (docs/child-runs-and-batches.md); rows live in the file at
    ``file_path``."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    columns: Mapped[list[str]] = mapped_column(JsonType)
    row_count: Mapped[int] = mapped_column(Integer)
    file_format: Mapped[str] = mapped_column(String(16))
    file_path: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime]


class OutputFile(Base):
    """A file a run produced: a batch parent's JSONL results (docs/child-runs-and-batches.md)."""

    __tablename__ = "output_files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(String(500))
    file_path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookSubscription(Base):
    """An outgoing notification webhook: where run events are POSTed (docs/operations.md).

    ``events`` is a comma-separated list of run statuses; ``workflow_id`` None means
    every workflow. ``secret`` signs deliveries and links and is never returned.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(String(200))
    workflow_id: Mapped[str | None] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiToken(Base):
    """An API token (docs/security.md §1): only the SHA-256 of the token is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class BrowserSession(Base):
    """A signed-in browser (docs/security.md §3); ``id_hash`` is the SHA-256 of the cookie."""

    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Secret(Base):
    """A secret (docs/security.md §6): ``ciphertext`` is the Fernet token of its value."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One notification of one run event to one subscription: the outbox and its log.

    Written in the transaction of the run's status change; a background loop claims
    due rows (``status`` PENDING, or SENDING with an expired claim) and sends them.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claim_expires_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_subscription", "subscription_id", "created_at", "id"),
        Index("ix_deliveries_run", "run_id"),
    )


class RunTag(Base):
    """A tag given to a run at its start (docs/operations.md)."""

    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True)

    __table_args__ = (Index("ix_run_tags_tag", "tag", "run_id"),)


class RunMetadatum(Base):
    """One ``key: value`` of the metadata given to a run at its start (docs/operations.md)."""

    __tablename__ = "run_metadata"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(1000))

    __table_args__ = (Index("ix_run_metadata_key_value", "key", "value", "run_id"),)


class IdempotencyKey(Base):
    """The run an idempotency key started; a key is honoured for 24 h (docs/operations.md)."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_idempotency_keys_run", "run_id"),)


class Schedule(Base):
    """A cron expression or an interval that starts runs of a workflow (docs/operations.md).

    ``workflow_id`` has no foreign key on purpose: a schedule outlives its workflow,
    disabled with ``disabled_reason``, so that its runs keep naming it.
    """

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(500))
    cron_expression: Mapped[str | None] = mapped_column(String(200))
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(100))
    initial_inputs: Mapped[dict[str, Any] | None]
    tags: Mapped[list[str] | None] = mapped_column(JsonType)
    run_metadata: Mapped[dict[str, Any] | None]
    enabled: Mapped[bool] = mapped_column(Boolean)
    misfire_policy: Mapped[str] = mapped_column(String(16))
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_run_id: Mapped[str | None] = mapped_column(String(40))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_schedules_due", "enabled", "next_run_at"),
        Index("ix_schedules_workflow", "workflow_id", "created_at"),
    )


class Trigger(Base):
    """A webhook that starts runs of a workflow; only a hash of its secret is kept."""

    __tablename__ = "triggers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    secret_hash: Mapped[str] = mapped_column(String(64))
    tags: Mapped[list[str] | None] = mapped_column(JsonType)
    run_metadata: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_triggers_workflow", "workflow_id", "created_at"),)


RUNS = cast(Table, Run.__table__)


class LlmCall(Base):
    """One call of an LLM node to its provider: what was sent and what it cost
    (see docs/pyspur.md). Provider keys are never recorded."""

    __tablename__ = "llm_calls"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(40))
    node_id: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(40))
    messages: Mapped[list[Any]] = mapped_column(JsonType)
    answer: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_llm_calls_run", "run_id", "created_at"),)


TASKS = cast(Table, Task.__table__)
VERSIONS = cast(Table, WorkflowVersion.__table__)
WORKFLOWS = cast(Table, Workflow.__table__)
PAUSES = cast(Table, PauseRecord.__table__)
DATASETS = cast(Table, Dataset.__table__)
OUTPUT_FILES = cast(Table, OutputFile.__table__)
LLM_CALLS = cast(Table, LlmCall.__table__)
WEBHOOKS = cast(Table, WebhookSubscription.__table__)
DELIVERIES = cast(Table, WebhookDelivery.__table__)
TOKENS = cast(Table, ApiToken.__table__)
SESSIONS = cast(Table, BrowserSession.__table__)
SECRETS = cast(Table, Secret.__table__)
RUN_TAGS = cast(Table, RunTag.__table__)
RUN_METADATA = cast(Table, RunMetadatum.__table__)
IDEMPOTENCY_KEYS = cast(Table, IdempotencyKey.__table__)
SCHEDULES = cast(Table, Schedule.__table__)
TRIGGERS = cast(Table, Trigger.__table__)
ATTEMPTS = cast(Table, TaskAttempt.__table__)
EVENTS = cast(Table, RunEvent.__table__)
RUN_COUNTS = cast(Table, RunCount.__table__)
RUN_TIME_COUNTS = cast(Table, RunTimeCount.__table__)
