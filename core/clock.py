"""The one clock every deadline, timer and work list reads: real time, or a test clock moved by tests.

Deadlines are dates in China (Asia/Shanghai); timers are instants. A test moves time forward with
:func:`travel` (or pins it with :func:`freeze`) instead of sleeping, and everything that asks :func:`now` or
:func:`today` — the case engine, the scheduler, work lists — sees the same moved time, in the test's process
(the in-process live server included).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """The current instant (UTC, timezone-aware), as moved by a test clock."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def today() -> date:
    """Today's date in China: the day deadlines are counted in."""
    return now().astimezone(CHINA).date()


def china_midnight(day: date) -> datetime:
    """00:00 of ``day`` in China, as a UTC instant (when a deadline's next day begins)."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA).astimezone(UTC)


def set_offset(offset: timedelta) -> None:
    """Run the process ``offset`` ahead of real time (tests and drills; never configured in production)."""
    global _offset, _frozen
    _offset, _frozen = offset, None


def reset() -> None:
    set_offset(timedelta(0))


@contextmanager
def travel(offset: timedelta) -> Iterator[None]:
    """Inside the block, the clock runs ``offset`` ahead (added to any offset already set)."""
    global _offset, _frozen
    saved = (_offset, _frozen)
    _offset = _offset + offset
    if _frozen is not None:
        _frozen = _frozen + offset
    try:
        yield
    finally:
        _offset, _frozen = saved


@contextmanager
def freeze(at: datetime) -> Iterator[None]:
    """Inside the block, :func:`now` is ``at`` (timezone-aware)."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze() needs a timezone-aware datetime")
    saved = _frozen
    _frozen = at.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = saved


__all__ = ["CHINA", "china_midnight", "freeze", "now", "reset", "set_offset", "today", "travel"]
