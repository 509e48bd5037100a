"""LLM node types with PySpur's config keys (see docs/pyspur.md)."""
