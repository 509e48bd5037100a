"""Capturing what a task attempt writes: its lines with a cap, and the traceback of a
node's own code (docs/observability.md).

Used in the server (the ``log`` helper of every node) and in the PythonFuncNode
worker processes (``print``, ``sys.stdout``/``sys.stderr`` and ``logging``), so it
depends on nothing but the standard library.
"""

from __future__ import annotations

import codecs
import io
import logging
import sys
import time
import traceback
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# (unix time, stream, level, line): what crosses the process boundary
Entry = tuple[float, str, str, str]

CODE_FILENAME = "<PythonFuncNode code>"


class LogCapture:
    """The lines of one attempt, capped at ``cap_bytes`` (UTF-8) and ``max_lines``.

    Past the cap it keeps the first half and the last half and puts one line
    ``… N bytes dropped …`` between them; a single line longer than half the cap
    keeps its start and its end around the same marker.
    """

    def __init__(self, cap_bytes: int, max_lines: int) -> None:
        self.half = max(cap_bytes // 2, 64)
        self.half_lines = max(max_lines // 2, 1)
        self.head: list[Entry] = []
        self.head_bytes = 0
        self.tail: deque[Entry] = deque()
        self.tail_bytes = 0
        self.dropped_bytes = 0
        self.dropped_lines = 0
        self.last_time = 0.0

    def add(self, stream: str, level: str, line: str, at: float | None = None) -> None:
        """Keep ``line`` (without its newline) if the cap allows."""
        size = len(line.encode("utf-8", "replace"))
        if size > self.half:
            keep = self.half // 4  # characters, so at most half the cap in bytes
            cut = len(line) - 2 * keep
            line = f"{line[:keep]} … {cut} characters dropped … {line[-keep:]}"
            self.dropped_bytes += size - len(line.encode("utf-8", "replace"))
            size = len(line.encode("utf-8", "replace"))
        entry = (at if at is not None else time.time(), stream, level, line)
        self.last_time = entry[0]
        if (
            not self.tail
            and self.head_bytes + size <= self.half
            and len(self.head) < self.half_lines
        ):
            self.head.append(entry)
            self.head_bytes += size
            return
        self.tail.append(entry)
        self.tail_bytes += size
        while self.tail_bytes > self.half or len(self.tail) > self.half_lines:
            old = self.tail.popleft()
            gone = len(old[3].encode("utf-8", "replace"))
            self.tail_bytes -= gone
            self.dropped_bytes += gone
            self.dropped_lines += 1

    def entries(self) -> list[Entry]:
        """The kept lines in order, with the drop marker where lines were dropped."""
        out = list(self.head)
        if self.dropped_lines:
            at = self.tail[0][0] if self.tail else self.last_time
            marker = f"… {self.dropped_bytes} bytes ({self.dropped_lines} lines) dropped …"
            out.append((at, "meta", "WARNING", marker))
        out.extend(self.tail)
        return out


class _Lines(io.TextIOBase):
    """A text stream that turns writes into captured lines (a partial line waits)."""

    def __init__(self, capture: LogCapture, stream: str, level: str) -> None:
        self.capture, self.stream, self.level = capture, stream, level
        self._partial: list[str] = []
        self._buffer: _Bytes | None = None

    @property
    def buffer(self) -> _Bytes:
        """``sys.stdout.buffer`` (made on first use: most code never writes bytes)."""
        if self._buffer is None:
            self._buffer = _Bytes(self)
        return self._buffer

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        parts = s.split("\n")
        if len(parts) == 1:
            self._partial.append(s)
            return len(s)
        first = "".join(self._partial) + parts[0]
        self.capture.add(self.stream, self.level, first)
        for line in parts[1:-1]:
            self.capture.add(self.stream, self.level, line)
        self._partial = [parts[-1]] if parts[-1] else []
        return len(s)

    def close_lines(self) -> None:
        """Keep a last line that had no newline."""
        if self._buffer is not None:
            self._buffer.finish()
        if self._partial:
            self.capture.add(self.stream, self.level, "".join(self._partial))
            self._partial = []


class _Bytes(io.RawIOBase):
    """``sys.stdout.buffer``: bytes are decoded as UTF-8, invalid ones replaced."""

    def __init__(self, text: _Lines) -> None:
        self.text = text
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.text.write(self.decoder.decode(data))
        return len(data)

    def finish(self) -> None:
        rest = self.decoder.decode(b"", final=True)
        if rest:
            self.text.write(rest)


class _Handler(logging.Handler):
    def __init__(self, capture: LogCapture) -> None:
        super().__init__(logging.NOTSET)
        self.capture = capture

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception as exc:  # a bad format string in user code
            text = f"{record.msg!r} (could not format: {exc})"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        for line in text.split("\n"):
            self.capture.add("log", record.levelname, line, record.created)


_handler: _Handler | None = None


@contextmanager
def captured(capture: LogCapture) -> Iterator[None]:
    """Send ``sys.stdout``, ``sys.stderr`` and the root logger (level INFO and above)
    into ``capture`` while the block runs; restore the streams and handlers after.

    Meant for the worker processes that run node code: the root logger's level is
    left at INFO (setting a level clears every logger's cache, a cost per call).
    """
    global _handler
    if _handler is None:
        _handler = _Handler(capture)
    _handler.capture = capture
    out, err = _Lines(capture, "stdout", "INFO"), _Lines(capture, "stderr", "ERROR")
    root = logging.getLogger()
    saved = sys.stdout, sys.stderr, root.handlers[:]
    sys.stdout, sys.stderr = out, err
    root.handlers[:] = [_handler]
    if root.level != logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved[0], saved[1]
        root.handlers[:] = saved[2]
        if root.level != logging.INFO:
            root.setLevel(logging.INFO)
        out.close_lines()
        err.close_lines()


def code_traceback(exc: BaseException, code: str, header_lines: int = 1) -> str:
    """The traceback of ``exc`` from the first frame of the node's code on.

    Frames of the code (compiled as :data:`CODE_FILENAME` under a ``header_lines``
    long ``def`` header) get the line numbers of ``code`` itself and its source
    line; frames of what runs the code are left out.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and frames[0].filename != CODE_FILENAME:
        frames.pop(0)
    source = code.splitlines()
    kept = []
    for f in frames:
        if f.filename == CODE_FILENAME and f.lineno is not None:
            n = f.lineno - header_lines
            text = source[n - 1].strip() if 0 < n <= len(source) else ""
            kept.append(traceback.FrameSummary(f.filename, n, f.name, line=text))
        else:
            kept.append(f)
    body = "".join(traceback.StackSummary.from_list(kept).format())
    tail = "".join(traceback.format_exception_only(type(exc), exc))
    return f"Traceback (most recent call last):\n{body}{tail}".rstrip("\n")
