"""The service layer: Spurline's use cases between the entry points (HTTP API, CLI,
worker) and the engine and store (docs/architecture.md#layers).

- :mod:`.runs`: start, wait for, read, pause-resolve, cancel and retry runs.
- :mod:`.batch`: batch runs over a dataset, one child run per row.
- :mod:`.children`: child runs of SubworkflowNode / ForLoopNode.
- :mod:`.datasets`: dataset uploads and reading their rows.
- :mod:`.recovery`: lease renewal, takeover of orphaned runs, stopping runs
  canceled elsewhere.
- :mod:`.events`: the run event stream of this process: fan-out to SSE clients,
  waits for a run's end (docs/observability.md).

Services receive the narrow parts they use (:class:`~._store.Store`, the engine, the
executor, a :class:`~._store.LeaseHolder`) from the composition root
(:mod:`spurline.runtime`), never the root itself.
"""
