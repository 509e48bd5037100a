"""An httpx transport that serves an ASGI app in this process and streams its answers.

httpx's own ``ASGITransport`` returns a response only once the app has sent all of
it, so an event stream (``GET /run/{id}/events/``, docs/observability.md) would
arrive in one piece when the run ends. This transport hands the response over as
soon as its head is sent and passes each body chunk on as the app sends it; closing
the response tells the app the client went away (``http.disconnect``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx

#: ``(host, port)`` the app sees as the client.
CLIENT = ("127.0.0.1", 0)
#: Seconds the app gets to finish after its client went away.
CLOSE_GRACE_S = 5.0
_DONE = b""


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Send requests to ``app`` (an ASGI callable) in this event loop.

    Event streams (``text/event-stream`` requested) are streamed; every other request
    goes through ``httpx.ASGITransport``, which raises the app's exceptions. An
    exception the app raises before a stream starts is raised from the request; one
    raised later ends the body.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._whole = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "text/event-stream" not in request.headers.get("accept", ""):
            return await self._whole.handle_async_request(request)
        body = await request.aread()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for (k, v) in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": CLIENT,
            "root_path": "",
        }
        started = asyncio.Event()
        gone = asyncio.Event()
        chunks: asyncio.Queue[bytes] = asyncio.Queue()
        head: dict[str, Any] = {}
        body_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                head["status"] = message["status"]
                head["headers"] = message.get("headers", [])
                started.set()
            elif message["type"] == "http.response.body":
                if message.get("body") and request.method != "HEAD":
                    chunks.put_nowait(message["body"])
                if not message.get("more_body", False):
                    chunks.put_nowait(_DONE)

        async def serve() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                started.set()
                chunks.put_nowait(_DONE)

        task = asyncio.create_task(serve())
        await started.wait()
        if "status" not in head:
            await task  # the app failed (or answered nothing): raise its exception
            raise httpx.RemoteProtocolError("the app sent no response")
        return httpx.Response(
            head["status"], headers=head["headers"], stream=_Body(chunks, gone, task)
        )


class _Body(httpx.AsyncByteStream):
    def __init__(self, chunks: asyncio.Queue[bytes], gone: asyncio.Event, task: Any) -> None:
        self._chunks = chunks
        self._gone = gone
        self._task: asyncio.Task[None] = task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) != _DONE:
            yield chunk

    async def aclose(self) -> None:
        self._gone.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_GRACE_S)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        except Exception:
            pass
