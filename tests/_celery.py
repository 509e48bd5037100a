"""The test session's in-process Celery worker for the ``postgres+celery`` backend.

A module of its own so that there is one per process even when ``conftest`` is
imported under two names (``conftest`` and ``tests.conftest``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from spurline.settings import Settings

REDIS_URL = os.environ.get("SPURLINE_TEST_REDIS_URL")


class CeleryConsumer:
    """The session's in-process Celery worker: a thread consuming one queue, started on
    first use (starting one per test would cost ~2 s). Each live store plugs in a
    WorkerHost of its own; a run goes to the host whose store holds it.
    """

    def __init__(self) -> None:
        from celery.contrib.testing.worker import start_worker

        from spurline.scaleout.celery_app import make_celery, register_tasks

        self.queue = f"spurline-test-{uuid.uuid4().hex[:12]}"
        self.hosts: list[Any] = []
        self.app = make_celery(Settings(**self.options()))
        register_tasks(self.app, self.execute)
        self._worker = start_worker(
            self.app,
            pool="threads",
            concurrency=8,
            perform_ping_check=False,
            queues=[self.queue],
            loglevel="WARNING",
        )
        self._worker.__enter__()

    def options(self) -> dict[str, Any]:
        """Settings of the Celery executor sending to this consumer's queue."""
        return {"executor": "celery", "broker_url": REDIS_URL, "queue_name": self.queue}

    def execute(self, run_id: str) -> str | None:
        """The task body: the first host that claims the run executes it (a late
        message of a store already gone is dropped)."""
        for host in list(self.hosts):
            status = host.execute(run_id)
            if status is not None:
                return str(status)
        return None

    @contextmanager
    def serving(self, settings: Settings) -> Iterator[Any]:
        """Execute runs of ``settings``'s store while the block lasts; yields the host."""
        from spurline.worker.host import WorkerHost

        host = WorkerHost(settings)
        self.hosts.append(host)
        try:
            yield host
        finally:
            self.hosts.remove(host)
            host.close()

    def stop(self) -> None:
        """Stop the worker thread and remove the queue."""
        import redis

        self._worker.__exit__(None, None, None)
        self.app.close()
        q = self.queue  # the queue and kombu's records of its bindings
        redis.Redis.from_url(str(REDIS_URL)).delete(
            q, f"_kombu.binding.{q}", f"_kombu.binding_permanent.{q}"
        )


_consumer: list[CeleryConsumer] = []


def celery_consumer() -> CeleryConsumer:
    """The session's :class:`CeleryConsumer`, started on first use."""
    if not _consumer:
        _consumer.append(CeleryConsumer())
    return _consumer[0]


def stop_celery_consumer() -> None:
    """Stop the session's consumer if it was started."""
    while _consumer:
        _consumer.pop().stop()
