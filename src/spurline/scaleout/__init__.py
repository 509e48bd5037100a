"""Scale-out over Celery: the queue both sides share (:mod:`.celery_app`), the
executor that enqueues runs and, in a worker process, executes them (:mod:`.executor`),
and the worker's execution slots, which runs waiting on child runs give back
(:mod:`.slots`).

The composition root (:mod:`spurline.runtime`) picks this executor when
``SPURLINE_EXECUTOR=celery``; the ``spurline worker`` process (:mod:`spurline.worker`)
consumes the queue. Kept apart from :mod:`spurline.worker` so that the root can use
it without importing the worker process, which itself imports the root (see
docs/architecture.md#layers).
"""
