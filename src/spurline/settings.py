"""Runtime configuration: one pydantic-settings class read from ``SPURLINE_*`` variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Spurline's settings (docs/architecture.md#executors, docs/runs-api.md#errors).

    Attributes:
        home: folder for the embedded store and output files (``SPURLINE_HOME``).
        database_url: SQLAlchemy URL; default ``sqlite:///{home}/spurline.db``.
        executor: ``local`` (asyncio in the API process) or ``celery``.
        broker_url: Celery broker when ``executor == "celery"``.
        queue_name: the broker queue runs are sent to and workers consume.
        queue_wait_s: how long a run may wait in the queue for a worker before it
            is taken over and enqueued again (covers a lost message).
        max_body_bytes: request bodies above this get 413 (default 10 MiB).
        python_workers: processes in the PythonFuncNode pool.
        python_timeout_s: time limit of a PythonFuncNode without ``config.timeout_s``.
        lease_s: how long a run's lease lasts without a heartbeat (docs/runs-api.md#running).
        control_poll_s: how often a process checks that the runs it executes were not
            canceled elsewhere (another server, the CLI); bounds how long they go on.
        blocking_timeout_s: how long ``POST /wf/{id}/run/`` waits before answering 202.
        schedule_poll_s: the longest a server's scheduler sleeps before it looks for due
            schedules again (it wakes at the next known fire time sooner); bounds how
            late a schedule created through another server first fires.
        schedule_grace_s: how late a fire may start and still count as on time; a fire
            later than that (the servers were down) follows the schedule's misfire
            policy (docs/operations.md).
        scheduler: run the scheduler in this process (servers do).
        log_cap_bytes: captured output kept per task attempt (UTF-8 bytes); past it the
            first and last halves are kept (docs/observability.md).
        log_cap_lines: captured lines kept per task attempt, likewise.
        events_poll_s: how often a process looks for events of processes that could
            not notify it (another process on the same SQLite file).
        log_level: level of the server's own log (``--log-level``).
        log_json: the server's log as JSON lines (``--log-json``).
    """

    model_config = SettingsConfigDict(env_prefix="SPURLINE_", extra="ignore")

    home: Path = Path(".spurline")
    database_url: str | None = None
    executor: Literal["local", "celery"] = "local"
    broker_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = Field(default="spurline", min_length=1)
    queue_wait_s: float = Field(default=60.0, gt=0)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    python_workers: int = Field(default=2, ge=1)
    python_timeout_s: float = Field(default=60.0, gt=0)
    lease_s: float = Field(default=10.0, gt=0)
    control_poll_s: float = Field(default=0.5, gt=0)
    blocking_timeout_s: float = Field(default=300.0, gt=0)
    schedule_poll_s: float = Field(default=1.0, gt=0)
    schedule_grace_s: float = Field(default=10.0, gt=0)
    scheduler: bool = True
    log_cap_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_cap_lines: int = Field(default=10_000, ge=10)
    events_poll_s: float = Field(default=1.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home.resolve() / 'spurline.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
