"""A fake OpenAI-compatible provider: a real HTTP server on loopback that answers
``POST /v1/chat/completions`` (plain and streamed), and on request 429 with
``Retry-After``, 5xx, a malformed body, a slow answer or a scripted content.

Without a script, the answer fits the requested schema: each string field says
``"answer N"`` (N counts the requests), numbers are 7, and a rating request
(``{"rating": number}``) rates an answer by its N, so Best-of-N picks the latest.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: ``status`` with ``content`` (a chat answer), or a raw ``body``."""

    status: int = 200
    content: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    #: streamed answers: pause before each 8-character chunk, seconds
    chunk_delay_s: float = 0.0


@dataclass
class Seen:
    """A request the fake received."""

    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class _Server(ThreadingHTTPServer):
    fake: FakeLLM

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that gave up on a slow answer (a time limit) closed the connection
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        fake = self.server.fake
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        with fake.lock:
            fake.requests.append(Seen(time.monotonic(), self.path, dict(self.headers), body))
            reply = fake.script.popleft() if fake.script else None
            fake.count += 1
            n = fake.count
        if not self.path.endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "no such path"}}', {})
            return
        reply = reply or Reply()
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.body is not None:
            self._send(reply.status, reply.body, reply.headers)
            return
        if reply.status != 200:
            err = {"error": {"message": f"fake error {reply.status}", "type": "fake"}}
            self._send(reply.status, json.dumps(err).encode(), reply.headers)
            return
        content = reply.content if reply.content is not None else _answer(body, n)
        if body.get("stream"):
            self._stream(body, content, reply.chunk_delay_s)
            return
        self._send(200, json.dumps(_completion(body, content)).encode(), reply.headers)

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, body: dict[str, Any], content: str, chunk_delay_s: float) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        head = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
        }
        for i in range(0, len(content), 8):
            if chunk_delay_s:
                time.sleep(chunk_delay_s)
            delta = {"content": content[i : i + 8]}
            chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            self._event(chunk)
        if (body.get("stream_options") or {}).get("include_usage"):
            # as OpenAI does: a last chunk without choices carries the usage
            self._event({**head, "choices": [], "usage": _completion(body, content)["usage"]})
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, chunk: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()


class FakeLLM:
    """The server; ``url`` is the base URL to give the OpenAI SDK (ends in ``/v1``)."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[Seen] = []
        self.count = 0
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def push(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        self.script.extend(replies)

    def chats(self) -> list[Seen]:
        """The chat-completion requests received, in order."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]


def _schema_of(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return dict(fmt["json_schema"]["schema"])
    system = next((m["content"] for m in body.get("messages", []) if m["role"] == "system"), "")
    hint = re.search(r"JSON Schema:\n(\{.*\})\s*$", system, re.DOTALL)
    return json.loads(hint.group(1)) if hint else {}


def _answer(body: dict[str, Any], n: int) -> str:
    props = _schema_of(body).get("properties") or {"output": {"type": "string"}}
    if set(props) == {"rating"}:
        rated = body["messages"][-1]["content"]
        numbers = re.findall(r"answer (\d+)", rated)
        return json.dumps({"rating": int(numbers[-1]) if numbers else 0})
    values = {"string": f"answer {n}", "number": 7, "integer": 7, "boolean": True}
    out = {k: values.get(p.get("type", "string"), f"answer {n}") for k, p in props.items()}
    return json.dumps(out)


def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    prompt, completion = prompt_chars // 4 + 1, len(content) // 4 + 1
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
