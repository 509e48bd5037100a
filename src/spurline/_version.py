"""The package version (kept apart so that modules inside Spurline can read it without
importing the public facade, :mod:`spurline`)."""

__version__ = "0.1.0"
