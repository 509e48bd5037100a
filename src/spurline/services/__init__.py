"""Use cases on top of the engine and the store."""
