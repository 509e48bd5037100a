"""Reading uploaded datasets and turning their rows into run inputs
(docs/child-runs-and-batches.md).

An upload (CSV with a header, JSON lines, or a JSON array of objects) is read as a
stream and rewritten as JSON lines, one object per row, so the batch dispatcher
reads every format the same way and never holds the whole file in memory.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from spurline.engine.clock import new_id, now
from spurline.engine.jsonvalue import json_problem
from spurline.exceptions import DatasetInvalid
from spurline.services._files import sweep, written_whole
from spurline.store import datasets as ds_q
from spurline.store import transient
from spurline.store.datasets import DatasetRecord

if TYPE_CHECKING:
    from spurline.services._store import Store

#: Cell values read as null whatever the field's type.
NULLS = frozenset({"", "NA"})
_CHUNK = 64 * 1024
#: Longest CSV field read (characters). Python's default (128 KiB) refused long text
#: cells; a field is held in memory once, and uploads are bounded by the body limit.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
_LONG_DIGITS = re.compile(rb"\d{20}")


def _bad(msg: str) -> DatasetInvalid:
    return DatasetInvalid([{"path": ("file",), "msg": msg, "type": "dataset"}])


def detect_format(filename: str, head: bytes) -> str:
    """``csv``, ``jsonl`` or ``json``: by file extension, else by the first character."""
    name = filename.lower()
    for ext, fmt in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json")):
        if name.endswith(ext):
            return fmt
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return {b"[": "json", b"{": "jsonl"}.get(first, "csv")


def ingest(src: IO[bytes], filename: str, dest: Path) -> tuple[str, list[str], int]:
    """Read the upload ``src`` and write its rows to ``dest`` as JSON lines.

    Returns ``(format, columns, row_count)``. Nothing is left at ``dest`` on error.

    Raises:
        DatasetInvalid: empty file, CSV without a header, ragged row, a line or
            element that is not a JSON object, bad JSON, not UTF-8, no rows.
        StoreFull: no space left on the disk of ``dest`` (docs/reliability.md#disk-full).
    """
    head = src.read(_CHUNK)
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise _bad("the file is empty")
    fmt = detect_format(filename, head)
    stream = io.BufferedReader(_Prefixed(head, src))
    rows = {"csv": _csv_rows, "jsonl": _jsonl_rows, "json": _json_array_rows}[fmt](stream)
    columns: dict[str, None] = {}
    count = 0
    try:
        with written_whole(dest) as out:
            for row in rows:
                if count == 0 or len(row) != len(columns) or any(k not in columns for k in row):
                    columns.update(dict.fromkeys(row))
                out.write(_row_line(row, count))
                count += 1
            if count == 0:
                raise _bad("the file has no rows")
    except UnicodeDecodeError:
        raise _bad("the file is not UTF-8 text") from None
    except csv.Error as exc:
        # e.g. a field over the reader's limit, or a NUL byte on an old Python
        raise _bad(f"the CSV cannot be read: {exc}") from None
    except OSError as exc:
        if transient.kind(exc) == "full":
            raise transient.unavailable(exc) from None
        raise
    return fmt, list(columns), count


def _row_line(row: dict[str, Any], index: int) -> bytes:
    """One JSON line; a value JSON storage cannot hold (a lone surrogate, an integer
    beyond 64 bits, nesting past the encoder) is rejected naming its row and column
    (docs/reliability.md#validation-and-bad-input)."""
    try:
        return orjson.dumps(row) + b"\n"
    except orjson.JSONEncodeError:
        problem = json_problem(row, f"row {index}") or f"row {index} cannot be stored as JSON"
        raise _bad(problem) from None


class _Prefixed(io.RawIOBase):
    """A raw stream that yields ``head`` and then the rest of ``src``."""

    def __init__(self, head: bytes, src: IO[bytes]) -> None:
        self._head = head
        self._src = src

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._src.read(len(view))
        view[: len(data)] = data
        return len(data)


def _csv_rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    header = next((r for r in reader if r), None)
    if header is None:
        raise _bad("the file is empty")
    names = [h.strip() for h in header]
    if any(not n or _is_number(n) for n in names) or len(set(names)) != len(names):
        raise _bad(
            "the CSV has no header: its first line must name every column "
            f"(non-empty, unique, not numbers), got {header!r}"
        )
    for row in reader:
        if not row:
            continue
        if len(row) != len(names):
            raise _bad(
                f"row {reader.line_num - 1} (line {reader.line_num}) has {len(row)} fields, "
                f"the header has {len(names)}"
            )
        yield dict(zip(names, row, strict=True))


def _jsonl_rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    for number, raw in enumerate(stream, start=1):
        line = raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
            if _LONG_DIGITS.search(line):
                # orjson reads an integer beyond 64 bits as a float, losing digits: read
                # the line exactly so that the row is refused by name (see _row_line)
                value = json.loads(line)
        except (orjson.JSONDecodeError, RecursionError, ValueError) as exc:
            raise _bad(f"line {number} is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise _bad(f"line {number} is a JSON {_kind(value)}, not an object")
        yield value


def _json_array_rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """Elements of a top-level JSON array of objects, decoded one at a time."""
    reader = _ArrayReader(stream)
    if reader.peek() != "[":
        raise _bad("the JSON is not a list of objects")
    reader.pos += 1
    index = 0
    while True:
        ch = reader.peek()
        if ch == "]":
            reader.pos += 1
            break
        if index and ch == ",":
            reader.pos += 1
            reader.peek()
        elif index:
            raise _bad(f"the JSON array is malformed after element {index - 1}")
        value = reader.value(index)
        if not isinstance(value, dict):
            raise _bad(f"the JSON is not a list of objects: element {index} is a {_kind(value)}")
        yield value
        index += 1
    if reader.peek():
        raise _bad("the JSON has data after the closing ']'")


class _ArrayReader:
    """A sliding text buffer over a byte stream for :func:`_json_array_rows`."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.text = codecs.getincrementaldecoder("utf-8-sig")()
        self.decoder = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.eof = False

    def more(self) -> bool:
        """Append the next chunk, dropping what was consumed; False at the end."""
        if self.eof:
            return False
        chunk = self.stream.read(_CHUNK)
        self.eof = not chunk
        self.buf = self.buf[self.pos :] + self.text.decode(chunk, final=self.eof)
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ('' at the end), not consumed."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def value(self, index: int) -> Any:
        """Decode the JSON value at the cursor, reading more input until it is whole."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except RecursionError:
                raise _bad(f"element {index} of the JSON array is nested too deeply") from None
            except ValueError:
                if self.more():
                    continue
                raise _bad(f"element {index} of the JSON array is not valid JSON") from None
            if end == len(self.buf) and isinstance(value, int | float) and self.more():
                continue  # a number may go on in the next chunk
            self.pos = end
            return value


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else "null"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_rows(path: Path, start: int = 0) -> Iterator[dict[str, Any]]:
    """The rows of a stored dataset file from row ``start`` on, one at a time."""
    with path.open("rb") as f:
        for i, line in enumerate(f):
            if i >= start:
                yield orjson.loads(line)


def coerce(value: Any, type_name: str) -> Any:
    """``value`` as the InputNode field type ``type_name`` (docs/child-runs-and-batches.md).

    ``"NA"``, an empty string and null become None. Strings are parsed for numbers,
    booleans, lists and objects; other values must already fit.

    Raises:
        ValueError: naming the value and the type it does not fit.
    """
    if value is None or (isinstance(value, str) and value.strip() in NULLS):
        return None
    kind = type_name.lower()
    if kind in ("str", "string"):
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if kind in ("any",):
        return value
    if not isinstance(value, str):
        return _check_typed(value, kind, type_name)
    text = value.strip()
    try:
        if kind in ("int", "integer"):
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number) if "." in text or "e" in text.lower() else int(text)
        if kind in ("float", "number"):
            return float(text)
        if kind in ("bool", "boolean"):
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[
                text.lower()
            ]
        parsed = orjson.loads(text)
        return _check_typed(parsed, kind, type_name)
    except (ValueError, KeyError, orjson.JSONDecodeError):
        raise ValueError(f"{value!r} is not {_article(type_name)}") from None


def _check_typed(value: Any, kind: str, type_name: str) -> Any:
    from spurline.nodes.io import type_matches

    if type_matches(value, kind):
        return float(value) if kind in ("float", "number") else value
    raise ValueError(f"{value!r} is not {_article(type_name)}")


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[:1] in "aeiou" else f"a {type_name}"


class DatasetService:
    """Adds datasets to the store and their files to a folder.

    Args:
        store: async database access.
        folder: where dataset files live (``SPURLINE_HOME/datasets``).
    """

    def __init__(self, store: Store, folder: Path) -> None:
        self.store = store
        self.folder = folder

    async def add(
        self, src: IO[bytes], filename: str, name: str, description: str | None
    ) -> DatasetRecord:
        """Read ``src`` (see :func:`ingest`) into a new dataset and record it.

        Raises:
            DatasetInvalid: the file cannot be read as rows, or a name, description or
                column name holds what the store cannot (a NUL character, a lone
                surrogate: docs/reliability.md#validation-and-bad-input).
            StoreFull: no space left for it (docs/reliability.md#disk-full).
        """
        for field, value in (("name", name), ("description", description)):
            problem = json_problem(value, field)
            if problem:
                raise DatasetInvalid([{"path": (field,), "msg": problem, "type": "value_error"}])
        dataset_id = new_id("D")
        dest = self.folder / f"{dataset_id}.jsonl"
        fmt, columns, count = await asyncio.to_thread(ingest, src, filename, dest)
        # column names are stored as a list (JSONB on PostgreSQL, which refuses NUL)
        unstorable = next(filter(None, (json_problem(c, f"column {c!r}") for c in columns)), None)
        if unstorable:
            dest.unlink(missing_ok=True)
            raise _bad(unstorable)
        record = DatasetRecord(
            id=dataset_id,
            name=name[:500],
            description=description,
            columns=columns,
            row_count=count,
            file_format=fmt,
            file_path=str(dest),
            uploaded_at=now(),
        )
        try:
            await self.store.write(lambda c: ds_q.insert_dataset(c, record))
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return record

    async def sweep(self) -> list[Path]:
        """Remove what interrupted uploads left: ``.part`` files no process writes, and
        dataset files no dataset names (docs/reliability.md#disk-full). Returns them."""
        if not self.folder.is_dir():
            return []
        known = {Path(p) for p in await self.store.read(ds_q.file_paths)}
        files = {p for p in self.folder.glob("*.jsonl") if p not in known}
        return await asyncio.to_thread(sweep, self.folder, files)
