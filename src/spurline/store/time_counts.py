"""Counting runs in a start-time range from ``run_time_counts`` (SQLite), for the
``X-Total-Count`` of ``GET /run/?start_date=&end_date=`` (docs/runs-api.md#endpoints-and-paging).

A range is cut into whole days, whole hours at its two ends, whole minutes at
their ends, and the two partial minutes at the very ends: the whole buckets are
summed from ``run_time_counts`` (at most 2 x 59 minutes, 2 x 23 hours and the
days between, per kind of run), the partial minutes' runs are counted on an index
of ``runs``. However wide the range, the count reads at most two minutes of runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, String, bindparam, func, select, union_all

from spurline.store.orm import RUN_TIME_COUNTS, RUNS

if TYPE_CHECKING:
    from spurline.store.runs import RunFilter

#: bucket spans in seconds, finest first, and the characters of the stored start
#: time (``YYYY-MM-DD HH:MM:SS.ffffff``) that name a bucket of each
SPANS = ((60, 16), (3600, 13), (86400, 10))
#: bounds that sort before and after every stored start time or bucket
LOWEST, HIGHEST = "", "~"
_EPOCH = datetime(1970, 1, 1)
_US = 1_000_000
_INF = float("inf")


@dataclass(frozen=True)
class Pieces:
    """A start-time range as half-open text ranges ``(low, high)``.

    ``buckets``: five ranges of bucket names, at spans 60, 3600, 86400, 3600, 60
    seconds; ``runs``: two ranges of stored start times counted run by run. An empty
    range is ``low == high``.
    """

    buckets: tuple[tuple[str, str], ...]
    runs: tuple[tuple[str, str], ...]


#: the spans of :attr:`Pieces.buckets`, in order
PIECE_SPANS = (60, 3600, 86400, 3600, 60)
_EMPTY = (LOWEST, LOWEST)


def _us(value: datetime) -> int:
    """Microseconds since 1970 of ``value`` in UTC (aware; naive is taken as local)."""
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return (naive - _EPOCH) // timedelta(microseconds=1)


def _floor(t: float, span: int) -> float:
    return t if t in (_INF, -_INF) else t - t % (span * _US)


def _ceil(t: float, span: int) -> float:
    return t if t in (_INF, -_INF) else -_floor(-t, span)


def _text(t: float, chars: int = 26) -> str:
    """``t`` (microseconds, or an infinity) as SQLite stores a start time, cut to ``chars``."""
    if t == -_INF:
        return LOWEST
    if t == _INF:
        return HIGHEST
    stamp = _EPOCH + timedelta(microseconds=int(t))
    return stamp.isoformat(sep=" ", timespec="microseconds")[:chars]


def _range(low: float, high: float, chars: int = 26) -> tuple[str, str]:
    return (_text(low, chars), _text(high, chars)) if low < high else _EMPTY


def pieces(start: datetime | None, end: datetime | None) -> Pieces:
    """The runs with ``start <= start_time <= end`` (either bound optional) as pieces.

    Example: 10:00:30 to 12:00:10 is the runs of [10:00:30, 10:01) and
    [12:00, 12:00:10.000001), minutes [10:01, 11:00) and hour [11:00, 12:00).
    """
    low: float = -_INF if start is None else _us(start)
    high: float = _INF if end is None else _us(end) + 1  # exclusive
    if low >= high:
        return Pieces((_EMPTY,) * 5, (_EMPTY, _EMPTY))
    minute, hour, day = (span for span, _ in SPANS)
    m_chars, h_chars, d_chars = (chars for _, chars in SPANS)
    m_low, m_high = _ceil(low, minute), _floor(high, minute)
    if m_low >= m_high:  # no whole minute: the runs of the range itself
        return Pieces((_EMPTY,) * 5, (_range(low, high), _EMPTY))
    runs = (_range(low, m_low), _range(m_high, high))
    h_low, h_high = _ceil(m_low, hour), _floor(m_high, hour)
    if h_low >= h_high:
        return Pieces((_range(m_low, m_high, m_chars),) + (_EMPTY,) * 4, runs)
    d_low, d_high = _ceil(h_low, day), _floor(h_high, day)
    if d_low >= d_high:
        hours = (_range(h_low, h_high, h_chars), _EMPTY, _EMPTY)
    else:
        hours = (
            _range(h_low, d_low, h_chars),
            _range(d_low, d_high, d_chars),
            _range(d_high, h_high, h_chars),
        )
    minutes = (_range(m_low, h_low, m_chars), _range(h_high, m_high, m_chars))
    return Pieces((minutes[0], *hours, minutes[1]), runs)


def _between(column: Any, name: str) -> list[ColumnElement[bool]]:
    """``low <= column < high``, bound as text by ``name`` + ``_lo`` / ``_hi``."""
    return [
        column >= bindparam(f"{name}_lo", type_=String),
        column < bindparam(f"{name}_hi", type_=String),
    ]


_BUILT: dict[tuple[Any, ...], Select[Any]] = {}


def count_statement(flt: RunFilter, by_status: bool = False) -> Select[Any]:
    """The count of the runs matching ``flt`` (its dates, statuses, workflow, run type
    and level; no other filter): one statement for filters shaped like ``flt``, whose
    parameters are ``flt.params()`` and :func:`params`. ``by_status``: rows of
    ``(status, count)`` instead, a status without runs possibly counted 0."""
    key = (by_status, *flt.shape())
    cached = _BUILT.get(key)
    if cached is not None:
        return cached
    counts = RUN_TIME_COUNTS
    parts: list[Select[Any]] = []
    for i, span in enumerate(PIECE_SPANS):
        where = [counts.c.span == span, *_between(counts.c.bucket, f"t_b{i}")]
        where += flt.kind_clauses(counts)
        if flt.parent_only:
            where.append(counts.c.child.is_(False))
        parts.append(_grouped(select(func.sum(counts.c.n).label("n")), counts, by_status, where))
    for i in range(2):
        where = [*_between(RUNS.c.start_time, f"t_r{i}"), *flt.kind_clauses(RUNS)]
        if flt.parent_only:
            where.append(RUNS.c.parent_run_id.is_(None))
        parts.append(_grouped(select(func.count().label("n")), RUNS, by_status, where))
    summed = union_all(*parts).subquery()
    total = func.coalesce(func.sum(summed.c.n), 0)
    if len(_BUILT) > 256:
        _BUILT.clear()
    built: Select[Any] = select(total)
    if by_status:
        built = select(summed.c.status, total).group_by(summed.c.status)
    _BUILT[key] = built
    return built


def _grouped(
    count: Select[Any], table: Any, by_status: bool, where: list[ColumnElement[bool]]
) -> Select[Any]:
    if not by_status:
        return count.select_from(table).where(*where)
    return (
        count.add_columns(table.c.status).select_from(table).where(*where).group_by(table.c.status)
    )


def params(flt: RunFilter) -> dict[str, str]:
    """The bucket and start-time bounds of :func:`count_statement` for ``flt``'s dates."""
    cut = pieces(flt.start_date, flt.end_date)
    out: dict[str, str] = {}
    for prefix, ranges in (("t_b", cut.buckets), ("t_r", cut.runs)):
        for i, (low, high) in enumerate(ranges):
            out[f"{prefix}{i}_lo"], out[f"{prefix}{i}_hi"] = low, high
    return out
