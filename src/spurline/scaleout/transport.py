"""kombu's Redis transport with one Redis client per channel instead of one per command.

kombu's Redis channel builds a new ``redis.Redis`` object for every command it sends
outside its consuming connection (``Channel.conn_or_acquire``): each published
message (``LPUSH``), each queue size, each binding lookup. Building one costs about
0.2 ms of CPU (its response-callback table is filled in anew), as much as sending
the message itself. A ``redis.Redis`` object holds no connection of its own (it
takes one from the channel's pool per command and gives it back), so one per channel
serves every thread; it is rebuilt when the channel replaces its pool after a lost
connection (docs/reliability.md#transient-store-errors).

Used for ``redis://`` broker URLs (:func:`spurline.scaleout.celery_app.make_celery`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """A kombu Redis channel that reuses one client for its commands."""

    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """``client`` when given, else the channel's client on its current pool."""
        if client:
            yield client
            return
        pool = self.pool
        shared = self._shared_client
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared_client = self._create_client()  # type: ignore[no-untyped-call]
        yield shared


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel
