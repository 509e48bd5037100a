"""Prometheus metrics of one process (see docs/operations.md, Metrics).

Counters and histograms count what happened in this process: runs it started
executing and ended, node executions, queue waits, lease takeovers, webhook
attempts. Gauges of the whole deployment (active runs by status, unfinished
webhook deliveries) are read from the store when ``/metrics`` is scraped, so
every API process reports the same values for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from spurline.engine.records import TaskRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.store import retention, run_events
from spurline.store.run_events import RunEvent

# the *_created series (the time each label set appeared) only add noise to scrapes
disable_created_metrics()  # type: ignore[no-untyped-call]

RUNS_STARTED = Counter(
    "spurline_runs_started",
    "Runs that began executing in this process (left the queue), by workflow.",
    ["workflow_id"],
)
RUNS_ENDED = Counter(
    "spurline_runs_ended",
    "Runs that ended COMPLETED, FAILED or CANCELED through this process, by status and workflow.",
    ["status", "workflow_id"],
)
RUNS_PAUSED = Counter(
    "spurline_runs_paused",
    "Times a run became PAUSED in this process, by workflow.",
    ["workflow_id"],
)
NODE_DURATION = Histogram(
    "spurline_node_duration_seconds",
    "Wall time of node executions that ended COMPLETED or FAILED, by node type and status.",
    ["node_type", "status"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
)
QUEUE_WAIT = Histogram(
    "spurline_queue_wait_seconds",
    "Time from a run's creation to the start of its execution.",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
LEASE_TAKEOVERS = Counter(
    "spurline_lease_takeovers",
    "Runs this process took over after their lease expired.",
)
WEBHOOK_DELIVERIES = Counter(
    "spurline_webhook_deliveries",
    "Webhook delivery attempts made by this process, by outcome (delivered, retried, failed).",
    ["outcome"],
)
ACTIVE_RUNS = Gauge(
    "spurline_active_runs",
    "Runs PENDING, RUNNING or PAUSED in the store, by status.",
    ["status"],
)
WEBHOOK_BACKLOG = Gauge(
    "spurline_webhook_deliveries_unfinished",
    "Webhook deliveries PENDING or SENDING in the store.",
)

T = TypeVar("T")


class StoreAccess(Protocol):
    """Async reads of the store."""

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run a read query."""
        ...


_ENDED = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED}
_TIMED = {TaskStatus.COMPLETED, TaskStatus.FAILED}


def observe_run(event: RunEvent) -> None:
    """Count a committed run status change (a :mod:`spurline.store.run_events` listener)."""
    if event.first_start:
        RUNS_STARTED.labels(workflow_id=event.workflow_id).inc()
        QUEUE_WAIT.observe(max((event.at - event.start_time).total_seconds(), 0.0))
    elif event.status in _ENDED:
        RUNS_ENDED.labels(status=event.status.value, workflow_id=event.workflow_id).inc()
    elif event.status is RunStatus.PAUSED:
        RUNS_PAUSED.labels(workflow_id=event.workflow_id).inc()


def observe_tasks(tasks: Sequence[TaskRecord]) -> None:
    """Time the node executions among ``tasks`` that just ended."""
    for task in tasks:
        if task.status in _TIMED and task.start_time and task.end_time:
            seconds = (task.end_time - task.start_time).total_seconds()
            NODE_DURATION.labels(node_type=task.node_type, status=task.status.value).observe(
                max(seconds, 0.0)
            )


def install() -> None:
    """Listen to this process's run and task writes (idempotent)."""
    if observe_run not in run_events.run_listeners:
        run_events.run_listeners.append(observe_run)
    if observe_tasks not in run_events.task_listeners:
        run_events.task_listeners.append(observe_tasks)


async def exposition(store: StoreAccess) -> tuple[bytes, str]:
    """The text exposition of every metric, the store gauges read now; returns
    (body, content type)."""
    active, unfinished_deliveries = await store.read(retention.gauges)
    for status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED):
        ACTIVE_RUNS.labels(status=status.value).set(active.get(status.value, 0))
    WEBHOOK_BACKLOG.set(unfinished_deliveries)
    return generate_latest(), CONTENT_TYPE_LATEST
