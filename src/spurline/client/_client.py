""":class:`Client` and :class:`AsyncClient`: the operations of :mod:`._flows` over
blocking or asyncio HTTP (see docs/client.md).

Each operation is declared once, as an :class:`Operation` on :class:`_Operations`;
reading it from a :class:`Client` gives a function returning the result, from an
:class:`AsyncClient` a coroutine function. The two classes only differ in how they
send a :class:`~._flows.Call` and how they sleep.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, overload

import httpx

from spurline.client import _flows as f
from spurline.client._errors import ServerUnavailable
from spurline.client._types import Event

P = ParamSpec("P")
T = TypeVar("T")
#: Seconds to wait for an answer; the blocking run and uploads can take long.
DEFAULT_TIMEOUT_S = 300.0
#: An event stream waits for events without limit (keep-alive comments come every
#: 15 s); only connecting is bounded.
_STREAM_TIMEOUT = httpx.Timeout(None, connect=30.0)
_CLOSED = "the event stream closed before the run ended"


class Operation(Generic[P, T]):
    """One API operation, bound to a client when read from it (a descriptor)."""

    def __init__(self, flow: Callable[P, f.Flow[T]]) -> None:
        self.flow = flow
        self.__doc__ = flow.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> Operation[P, T]: ...

    @overload
    def __get__(self, obj: Client, owner: type[Any] | None = None) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, obj: AsyncClient, owner: type[Any] | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        flow = self.flow

        @functools.wraps(flow)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return obj._drive(flow(*args, **kwargs))

        return bound


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _unavailable(base_url: str, exc: httpx.TransportError) -> ServerUnavailable:
    reason = str(exc) or type(exc).__name__
    return ServerUnavailable(f"cannot reach the Spurline server at {base_url}: {reason}")


def _verify(base_url: str) -> ssl.SSLContext | bool:
    """TLS settings: the default (verified, system CAs) for ``https``; for a plain
    ``http`` server a context that trusts no certificate, since loading the CA bundle
    costs about 0.1 s per command and such a client never needs it."""
    if base_url.lower().startswith("https:"):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, and so refuses any TLS peer


def _request_args(call: f.Call) -> dict[str, Any]:
    args: dict[str, Any] = {"params": call.params, "json": call.json}
    if call.headers:
        args["headers"] = dict(call.headers)
    if call.files is not None:
        args.update(files=call.files, data=dict(call.data))
    return args


class _Operations:
    """Every operation of the API, shared by both clients."""

    list_runs = Operation(f.list_runs)
    get_run = Operation(f.get_run)
    run_tasks = Operation(f.run_tasks)
    run_children = Operation(f.run_children)
    run_logs = Operation(f.run_logs)
    run_logs_all = Operation(f.run_logs_all)
    task_attempts = Operation(f.task_attempts)
    delete_run = Operation(f.delete_run)
    cancel_run = Operation(f.cancel_run)
    retry_run = Operation(f.retry_run)
    pause_action = Operation(f.pause_action)
    pause_history = Operation(f.pause_history)
    paused_runs = Operation(f.paused_runs)
    start_run = Operation(f.start_run)
    run_workflow = Operation(f.run_workflow)
    wait_run = Operation(f.wait_run)
    start_batch_run = Operation(f.start_batch_run)
    list_workflows = Operation(f.list_workflows)
    get_workflow = Operation(f.get_workflow)
    create_workflow = Operation(f.create_workflow)
    replace_workflow = Operation(f.replace_workflow)
    workflow_versions = Operation(f.workflow_versions)
    delete_workflow = Operation(f.delete_workflow)
    upload_dataset = Operation(f.upload_dataset)
    list_datasets = Operation(f.list_datasets)
    get_dataset = Operation(f.get_dataset)
    delete_dataset = Operation(f.delete_dataset)
    get_output_file = Operation(f.get_output_file)
    download_output_file = Operation(f.download_output_file)
    rerun_run = Operation(f.rerun_run)
    prune_runs = Operation(f.prune_runs)
    list_schedules = Operation(f.list_schedules)
    get_schedule = Operation(f.get_schedule)
    create_schedule = Operation(f.create_schedule)
    toggle_schedule = Operation(f.toggle_schedule)
    delete_schedule = Operation(f.delete_schedule)
    list_webhooks = Operation(f.list_webhooks)
    create_webhook = Operation(f.create_webhook)
    delete_webhook = Operation(f.delete_webhook)
    webhook_deliveries = Operation(f.webhook_deliveries)
    list_tokens = Operation(f.list_tokens)
    create_token = Operation(f.create_token)
    revoke_token = Operation(f.revoke_token)
    list_secrets = Operation(f.list_secrets)
    set_secret = Operation(f.set_secret)
    delete_secret = Operation(f.delete_secret)


class Client(_Operations):
    """A blocking client of a Spurline server.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:6080``.
        token: sent as ``Authorization: Bearer <token>`` when given.
        timeout: seconds to wait for each answer.
        transport: an httpx transport to use instead of the network (tests, WSGI).

    Every operation raises the errors of ``spurline.client._errors``; a server that
    cannot be reached is :class:`ServerUnavailable`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url,
            headers=_headers(token),
            timeout=timeout,
            transport=transport,
            verify=_verify(base_url),
        )

    def _drive(self, flow: f.Flow[T]) -> T:
        reply: Any = None
        failed: ServerUnavailable | None = None
        try:
            while True:
                # A transport failure goes into the flow, which may explain it (an upload
                # over the limit) or let it out.
                step = flow.send(reply) if failed is None else flow.throw(failed)
                failed = reply = None
                if isinstance(step, f.Sleep):
                    time.sleep(step.seconds)
                    continue
                try:
                    reply = self._http.request(step.method, step.path, **_request_args(step))
                except httpx.TransportError as exc:
                    failed = _unavailable(self.base_url, exc)
                    failed.__cause__ = exc
        except StopIteration as stop:
            result: T = stop.value
            return result

    def run_events(self, run_id: str, last_event_id: int | None = None) -> Iterator[Event]:
        """A run's events from its first (or after ``last_event_id``), then live, until
        the run has ended (the ``end`` event, yielded last); see docs/observability.md.

        A dropped connection is reopened after the last event seen (``Last-Event-ID``)
        as long as each reopening delivers something.

        Raises:
            NotFound: no such run. Invalid: ``last_event_id`` is ahead of the newest
            event. ServerUnavailable: the server cannot be reached.
        """
        stream = f.EventStream(run_id, last_event_id)
        while not stream.ended:
            call = stream.call()
            progressed = False
            try:
                with self._http.stream(
                    call.method, call.path, timeout=_STREAM_TIMEOUT, **_request_args(call)
                ) as response:
                    if response.status_code >= 300:
                        response.read()
                    f.check(call, response)
                    for line in response.iter_lines():
                        event = stream.feed(line)
                        if event is not None:
                            progressed = True
                            yield event
                            if stream.ended:
                                return
            except httpx.TransportError as exc:
                if not progressed:
                    raise _unavailable(self.base_url, exc) from exc
            if not stream.ended and not progressed:
                raise _unavailable(self.base_url, httpx.RemoteProtocolError(_CLOSED))

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Operations):
    """An asyncio client of a Spurline server; the arguments of :class:`Client`.

    ``transport`` may be an ``httpx.ASGITransport`` to serve an app in this process
    (the ``spurline`` command does so for its local store).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=_headers(token),
            timeout=timeout,
            transport=transport,
            verify=_verify(base_url),
        )

    async def _drive(self, flow: f.Flow[T]) -> T:
        reply: Any = None
        failed: ServerUnavailable | None = None
        try:
            while True:
                step = flow.send(reply) if failed is None else flow.throw(failed)
                failed = reply = None
                if isinstance(step, f.Sleep):
                    await asyncio.sleep(step.seconds)
                    continue
                try:
                    args = _request_args(step)
                    reply = await self._http.request(step.method, step.path, **args)
                except httpx.TransportError as exc:
                    failed = _unavailable(self.base_url, exc)
                    failed.__cause__ = exc
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def run_events(
        self, run_id: str, last_event_id: int | None = None
    ) -> AsyncIterator[Event]:
        """:meth:`Client.run_events` as an async iterator."""
        stream = f.EventStream(run_id, last_event_id)
        while not stream.ended:
            call = stream.call()
            progressed = False
            try:
                async with self._http.stream(
                    call.method, call.path, timeout=_STREAM_TIMEOUT, **_request_args(call)
                ) as response:
                    if response.status_code >= 300:
                        await response.aread()
                    f.check(call, response)
                    async for line in response.aiter_lines():
                        event = stream.feed(line)
                        if event is not None:
                            progressed = True
                            yield event
                            if stream.ended:
                                return
            except httpx.TransportError as exc:
                if not progressed:
                    raise _unavailable(self.base_url, exc) from exc
            if not stream.ended and not progressed:
                raise _unavailable(self.base_url, httpx.RemoteProtocolError(_CLOSED))

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
