"""Use cases over the engine and the store; the API, CLI and worker call these."""
