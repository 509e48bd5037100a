"""The CLI's two consoles: results on stdout, messages on stderr."""

from __future__ import annotations

from rich.console import Console

out = Console()
# Messages are never hard-wrapped, so each stays one line in logs and pipes.
err = Console(stderr=True, soft_wrap=True)
