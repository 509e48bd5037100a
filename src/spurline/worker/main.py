"""``spurline worker``: a Celery worker executing runs from ``SPURLINE_QUEUE_NAME``.

Pool choice: ``threads``. A run is an asyncio program whose nodes mostly wait (on
the store, on PythonFuncNode subprocesses), so one event loop per process runs
many at once; the pool threads only block until their run stops. A prefork pool
would give each child one run at a time, a store pool and a writer of its own,
and its daemonic children could not start the PythonFuncNode process pool;
``solo`` would execute one run at a time per process. CPU parallelism comes from
the PythonFuncNode pool (``SPURLINE_PYTHON_WORKERS``) and from running several
worker processes.
"""

from __future__ import annotations

import logging

from celery.signals import worker_shutting_down

from spurline.nodes._sandbox import shutdown_default_pool
from spurline.scaleout.celery_app import make_celery, on_reconnect, register_tasks
from spurline.settings import Settings
from spurline.worker.host import WorkerHost


def run_worker(settings: Settings, concurrency: int, loglevel: str = "INFO") -> int:
    """Run a worker in this process until it is told to stop; returns its exit code.

    Args:
        settings: store, broker and queue settings.
        concurrency: runs doing work at once in this process (Celery pool threads);
            runs waiting on child runs do not count (docs/reliability.md#no-starvation).
        loglevel: Celery's log level.
    """
    if not logging.getLogger().handlers:  # not configured by the CLI (spurline.oplog)
        logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    host = WorkerHost(settings, concurrency)
    if settings.metrics_port is not None:
        # this process's counters (runs it executed, nodes, webhooks); docs/operations.md
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port)
    app = make_celery(host.settings)
    register_tasks(app, host.execute)

    def on_shutting_down(**_: object) -> None:
        # SIGTERM: the runs executing get their grace (docs/reliability.md#clean-shutdown)
        host.begin_shutdown()

    worker_shutting_down.connect(on_shutting_down, weak=False)
    # a broker restarted without persistence lost the queued messages: send them again
    on_reconnect(app, host.broker_reconnected)
    try:
        worker = app.Worker(
            pool="threads",
            concurrency=concurrency,
            queues=[host.settings.queue_name],
            loglevel=loglevel,
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            optimization="fair",
        )
        worker.start()
        return int(worker.exitcode or 0)
    finally:
        worker_shutting_down.disconnect(on_shutting_down)
        host.close()
        shutdown_default_pool()
