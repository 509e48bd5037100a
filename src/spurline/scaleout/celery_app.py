"""The Celery app: broker settings and the one task, ``spurline.execute_run``.

Delivery settings and why:

* ``task_acks_late``: a message is acknowledged when its run has stopped here
  (completed, failed, paused, canceled or handed over) or gave its slot back to
  wait on child runs (docs/reliability.md#no-starvation), not when it is
  received, so a worker killed mid-run leaves the message unacknowledged and the
  broker delivers it again (RabbitMQ at once; Redis after ``visibility_timeout``).
* ``worker_prefetch_multiplier=1``: a worker reserves only as many messages as
  it has free slots, so queued runs go to whichever worker frees up first
  instead of waiting behind a busy one.
* ``task_reject_on_worker_lost``: with a process pool, a task whose child
  process died is requeued instead of acknowledged.
* No result backend: outcomes live in the store; messages carry only a run id.
* ``redis://``: kombu's Redis transport with one client per channel
  (:mod:`spurline.scaleout.transport`).
* Redis without ack emulation (``ack_emulation=False``): Redis would redeliver an
  unacknowledged message only after its one-hour visibility timeout, long after the
  lease takeover (``SPURLINE_LEASE_S``) has resumed the run, so the emulation buys
  nothing; and with it a worker that loses its broker connection while executing
  runs dies (kombu restores the unacknowledged messages on a connection that is
  already gone and raises), where without it the worker reconnects and goes on
  (docs/reliability.md#transient-store-errors).

Redelivery is a speed-up, never the guarantee: a run whose worker died is taken
over once its lease expires, whatever the broker does with the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery, bootsteps

from spurline.scaleout.transport import Transport
from spurline.settings import Settings

EXECUTE_RUN = "spurline.execute_run"


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings.broker_url`` sending to ``settings.queue_name``."""
    app = Celery("spurline", broker=settings.broker_url, set_as_current=False)
    scheme = settings.broker_url.partition("://")[0]
    if scheme in ("redis", "rediss"):
        app.conf.broker_transport_options = {"ack_emulation": False}
    if scheme == "redis":
        # one Redis client per channel, not one per published message (see .transport)
        app.conf.broker_transport = Transport
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.queue_name,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # A run interrupted by a lost broker connection is redelivered and its
        # duplicate is refused by the lease claim, so running tasks may go on.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


def register_tasks(app: Celery, execute: Callable[[str], str | None]) -> Any:
    """Register ``spurline.execute_run`` on ``app``; ``execute(run_id)`` does the work.

    Returns the task object. The task is thin: it hands the run id to the worker's
    event loop and returns the status the run stopped in (None when the run was
    not claimed: a duplicate message, or a run that finished meanwhile).
    """

    # shared=False: the task belongs to this app only, not to every app created later.
    task = app.task(name=EXECUTE_RUN, acks_late=True, ignore_result=True, shared=False)

    @task  # type: ignore[untyped-decorator]
    def execute_run(run_id: str) -> str | None:
        return execute(run_id)

    return execute_run


def on_reconnect(app: Celery, callback: Callable[[], None]) -> None:
    """Call ``callback`` (in the worker's consumer thread; it must return at once) each
    time a worker of ``app`` is connected to the broker again after losing the
    connection, not at its first connection (docs/reliability.md#transient-store-errors).
    """
    connects = 0

    class Reconnected(bootsteps.StartStopStep):  # type: ignore[misc]
        # the consumer's steps start again on every new connection; after the task
        # consumer, so the worker already takes messages when the callback sends some
        requires = {"celery.worker.consumer.tasks:Tasks"}

        def start(self, parent: Any) -> None:
            nonlocal connects
            connects += 1
            if connects > 1:
                callback()

    app.steps["consumer"].add(Reconnected)
