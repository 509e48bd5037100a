"""Publishing an LLM answer's text while it streams in, batched so a fast stream does
not write an event per token (the rule: docs/pyspur.md, "Streamed answers").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from spurline.nodes.base import NodeContext

log = logging.getLogger(__name__)

#: Least time between two publications of one answer, seconds.
INTERVAL_S = 0.1
#: A word (text without whitespace) longer than this is published without waiting for
#: its end, characters.
LONGEST_WORD = 1024


class AnswerStream:
    """Collects the text of one streamed answer and publishes it in chunks as log lines
    of stream ``stream`` of the task's current attempt.

    A chunk is published when text arrives at least :data:`INTERVAL_S` after the
    previous publication, and at :meth:`close`. It ends at whitespace: the end of an
    unfinished word waits for the next chunk (so a secret's value is never split over
    two lines, where masking could not see it whole), unless it is longer than
    :data:`LONGEST_WORD`. The chunks of an answer, concatenated, are the answer.
    """

    def __init__(
        self, ctx: NodeContext, stream: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ctx, self.stream, self.clock = ctx, stream, clock
        self.pending = ""
        self.last = clock()
        self.broken = False

    async def add(self, text: str) -> None:
        """Take the next piece of the answer; publish what is due."""
        self.pending += text
        if self.clock() - self.last < INTERVAL_S:
            return
        cut = max(self.pending.rfind(c) for c in " \n\t\r") + 1
        if cut == 0 and len(self.pending) <= LONGEST_WORD:
            return
        if cut == 0:
            cut = len(self.pending)
        await self._publish(self.pending[:cut])
        self.pending = self.pending[cut:]

    async def close(self) -> None:
        """The answer is complete: publish the rest."""
        rest, self.pending = self.pending, ""
        await self._publish(rest)

    async def _publish(self, text: str) -> None:
        self.last = self.clock()
        if self.broken:
            return
        try:
            await self.ctx.stream(text, self.stream)
        except Exception as exc:
            # Showing the answer early is a convenience: a store that cannot take a
            # line now must not fail the call (the answer is recorded when it ends).
            self.broken = True
            log.warning(
                "streamed answer not stored: %s: %s",
                type(exc).__name__,
                exc,
                extra={"run_id": self.ctx.run_id, "node_id": self.ctx.node_id},
            )
