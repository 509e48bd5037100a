"""Runtime configuration: one pydantic-settings class read from ``SPURLINE_*`` variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Spurline's settings (docs/architecture.md#executors, docs/runs-api.md#errors).

    Attributes:
        home: folder for the embedded store and output files (``SPURLINE_HOME``); when
            unset, the nearest ``.spurline/`` in the working directory or one of its
            parents, else ``./.spurline`` (see :func:`find_home`). Always absolute.
        database_url: SQLAlchemy URL; default ``sqlite:///{home}/spurline.db``.
        executor: ``local`` (asyncio in the API process) or ``celery``.
        broker_url: Celery broker when ``executor == "celery"``.
        queue_name: the broker queue runs are sent to and workers consume.
        queue_wait_s: how long a run may wait in the queue for a worker before it
            is taken over and enqueued again (covers a lost message).
        max_body_bytes: request bodies above this get 413 (default 10 MiB).
        max_depth: how deep child runs (sub-workflows, loops) may nest below their root
            run (docs/reliability.md#bounded-nesting).
        max_child_runs: most child runs one root run's whole tree may hold.
        python_workers: processes in the PythonFuncNode pool.
        python_burst_workers: more processes the pool starts while every regular one
            is busy (docs/reliability.md#orphans-and-hogging).
        python_timeout_s: time limit of a PythonFuncNode without ``config.timeout_s``.
        lease_s: how long a run's lease lasts without a heartbeat (docs/runs-api.md#running).
        control_poll_s: how often a process checks that the runs it executes were not
            canceled elsewhere (another server, the CLI); bounds how long they go on, and
            how long a lease released by a process shutting down waits for a taker.
        max_crashes: times in a row a task may crash the process executing it before it
            ends FAILED instead of running again (docs/reliability.md#poison-runs).
        shutdown_grace_s: after SIGTERM, how long a server or worker lets the nodes in
            flight finish before it hands their runs over (docs/reliability.md#clean-shutdown).
        blocking_timeout_s: how long ``POST /wf/{id}/run/`` waits before answering 202.
        templates_dir: folder of workflow files offered as templates (docs/pyspur.md).
        public_url: the address people and webhook receivers reach this deployment at;
            signed approve/decline links start with it (see docs/operations.md).
        webhook_timeout_s: time limit of one webhook delivery attempt, connection included.
        webhook_max_attempts: attempts of a delivery before it is FAILED.
        webhook_backoff_s: delay before the first retry; it doubles with each attempt.
        webhook_backoff_max_s: the longest delay between two attempts.
        webhook_poll_s: how often a process looks for due webhook deliveries.
        webhook_concurrency: deliveries one process sends at once.
        pause_link_ttl_s: how long a signed approve/decline link stays usable.
        retention_days: runs that ended more than this many days ago are pruned in the
            background; None (the default) keeps every run.
        retention_interval_s: how often the background retention runs.
        prune_batch_size: runs deleted per transaction by prune and retention.
        metrics_port: a worker process serves Prometheus metrics on this port when set.
        auth: ``required`` or ``off``; unset means off on a loopback-only bind, required
            otherwise (docs/security.md §2).
        token_cache_s: how long a process trusts a verified token or session (seconds).
        session_hours: lifetime of a browser session.
        auth_fail_limit: failed authentications one client may make per
            ``auth_fail_window_s`` seconds before it gets 429.
        cors_origins: comma-separated origins of a separate front end; empty: none.
        secret_key: the Fernet key secrets are encrypted with (docs/security.md §6).
        python_memory_mb: address-space limit of a PythonFuncNode process (MiB).
        python_cpu_s: CPU seconds one PythonFuncNode call may use.
        python_max_processes: processes one PythonFuncNode call may fork.
        python_max_open_files: file descriptors a PythonFuncNode process may hold.
        python_max_output_mb: size of the JSON a PythonFuncNode call may return (MiB).
        python_max_print_mb: what one PythonFuncNode call may print (MiB).
        python_env_allow: comma-separated environment variables user code keeps even
            when they look secret (docs/security.md §5).
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
        store_retry_s: how long the store's reads and writes wait out a transient
            error (lost connection, failover, lock, full disk) before giving up; runs
            wait for the store past it (docs/reliability.md#transient-store-errors).
        store_request_retry_s: the same for a request's own reads and writes; past it
            the request gets 503 with ``Retry-After`` (507 for a full disk).
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
    python_burst_workers: int = Field(default=2, ge=0)
    python_timeout_s: float = Field(default=60.0, gt=0)
    lease_s: float = Field(default=10.0, gt=0)
    control_poll_s: float = Field(default=0.5, gt=0)
    max_crashes: int = Field(default=3, ge=1)
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    blocking_timeout_s: float = Field(default=300.0, gt=0)
    max_depth: int = Field(default=10, ge=1)
    max_child_runs: int = Field(default=100_000, ge=1)
    templates_dir: Path = Path("examples")
    public_url: str = "http://127.0.0.1:6080"
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_backoff_s: float = Field(default=2.0, gt=0)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_poll_s: float = Field(default=0.5, gt=0)
    webhook_concurrency: int = Field(default=16, ge=1)
    pause_link_ttl_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    retention_days: float | None = Field(default=None, gt=0)
    retention_interval_s: float = Field(default=3600.0, gt=0)
    prune_batch_size: int = Field(default=200, ge=1)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    auth: Literal["required", "off"] | None = None
    token_cache_s: float = Field(default=2.0, ge=0)
    session_hours: float = Field(default=12.0, gt=0)
    auth_fail_limit: int = Field(default=10, ge=1)
    auth_fail_window_s: float = Field(default=10.0, gt=0)
    cors_origins: str = ""
    secret_key: SecretStr | None = None
    python_memory_mb: int = Field(default=512, ge=64)
    python_cpu_s: int = Field(default=60, ge=1)
    python_max_processes: int = Field(default=8, ge=0)
    python_max_open_files: int = Field(default=64, ge=16)
    python_max_output_mb: float = Field(default=16.0, gt=0)
    python_max_print_mb: float = Field(default=128.0, gt=0)
    python_env_allow: str = ""
    schedule_poll_s: float = Field(default=1.0, gt=0)
    schedule_grace_s: float = Field(default=10.0, gt=0)
    scheduler: bool = True
    log_cap_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_cap_lines: int = Field(default=10_000, ge=10)
    events_poll_s: float = Field(default=1.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    store_retry_s: float = Field(default=60.0, ge=0)
    store_request_retry_s: float = Field(default=2.0, ge=0)

    _home_given: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _absolute_home(self) -> Settings:
        # Resolved once, here, so every part of a process (and every command) agrees
        # on one folder whatever it does with the working directory later.
        self._home_given = "home" in self.model_fields_set
        self.home = self.home.resolve() if self._home_given else find_home(Path.cwd())
        return self

    @property
    def home_given(self) -> bool:
        """Whether ``home`` was set (``SPURLINE_HOME`` or an argument) rather than found."""
        return self._home_given

    def sqlite_path(self) -> Path | None:
        """The embedded store's file when the store is SQLite, else None."""
        url = self.resolved_database_url()
        if not url.startswith("sqlite:///"):
            return None
        path = url.removeprefix("sqlite:///").partition("?")[0]
        return None if path in ("", ":memory:") else Path(path)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home.resolve() / 'spurline.db'}"

    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` as a list, blanks dropped."""
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (docs/security.md §7).

    ``postgresql+psycopg://app:pw@db/x`` -> ``postgresql+psycopg://app:***@db/x``;
    a URL without a password is returned as it is.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostport}{slash}{tail}"


def is_loopback_bind(host: str) -> bool:
    """True when binding ``host`` serves this machine only (docs/security.md §2)."""
    name = host.strip("[]").lower()
    return name in ("localhost", "::1") or name.startswith("127.")


#: The folder name :func:`find_home` looks for.
HOME_DIR = ".spurline"


def find_home(start: Path) -> Path:
    """The store folder when ``SPURLINE_HOME`` is unset: the nearest ``.spurline/``
    folder in ``start`` or one of its parents (as git finds ``.git``), else
    ``start/.spurline`` (see docs/client.md, "Where the local store is")."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / HOME_DIR).is_dir():
            return folder / HOME_DIR
    return start / HOME_DIR


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
