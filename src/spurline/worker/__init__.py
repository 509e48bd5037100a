"""The ``spurline worker`` process: runs executed on Celery workers (docs/architecture.md).

``SPURLINE_EXECUTOR=celery``: API processes record a run, then send the message
``spurline.execute_run(run_id)`` to ``SPURLINE_BROKER_URL``; ``spurline worker``
processes consume it and execute the run with the same asyncio engine as the
embedded mode. The store stays the single source of truth: a message only says
"look at this run", so a duplicate is harmless and a lost one is replaced by the
lease takeover (:mod:`spurline.store.leases`).

Modules: :mod:`.host` (the worker process: one event loop hosting a Runtime) and
:mod:`.main` (the Celery worker around it). The Celery app and the executor on the
queue live in :mod:`spurline.scaleout`, which API processes use as well.
"""
