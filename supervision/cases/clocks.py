"""Deadlines of a case: its clocks started, paused, resumed and stopped as the case moves, and their timers.

A clock's due date is counted by :class:`core.workdays.Calendar` (working days with 调休, or calendar days rolled
past rest days) from the day it started, skipping the days it stood paused; or it is a date the case's data
gives (a rectification deadline). A due date that runs into a year whose holiday schedule is not yet known is
counted by the weekday rule and marked *provisional*; the worker recounts it once the year is entered.

A clock may instead count elapsed time (``{minutes: N}`` or ``{hours: N}``: an alarm's escalation): from the instant
it started (``started_at``) it is due at an instant (``due_at``; ``due_date`` holds that instant's China date), warns
``warn`` minutes (or hours) before it (``warn_at``), and its breach fires at the due instant itself. Such a clock
never pauses (the loader refuses a ``pause`` of it) and is not extended by days.

Each running clock has up to two timers: a warning on its warning date and a breach at 00:00 (China) of the day
after its due date (for an elapsed-time clock: at its warning and due instants). A timer carries the clock's *generation*: restarting, pausing or stopping a clock bumps it or
deletes its timers, so a timer left from an earlier run never fires.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import clock as core_clock
from core.workdays import Calendar, CalendarGap, ClockStopped, Pause
from core.workdays_store import load_calendar
from supervision.cases.definitions import CaseType, Clock
from supervision.cases.expressions import evaluate

ONE_DAY = timedelta(days=1)
_CAL: dict[tuple[Any, ...], Calendar] = {}


def calendar(conn: Connection) -> Calendar:
    """The holiday schedule as the database holds it (re-read only when the table changed)."""
    key = tuple(conn.execute(text(
        "SELECT (SELECT count(*) FROM workdays), (SELECT max(updated_at) FROM workdays), "
        "(SELECT string_agg(year::text, ',' ORDER BY year) FROM workday_years)")).one())
    if key not in _CAL:
        _CAL.clear()
        _CAL[key] = load_calendar(conn)
    return _CAL[key]


@dataclass
class Due:
    due_date: date | None
    warn_date: date | None
    provisional: bool
    due_at: datetime | None = None      # an elapsed-time clock's instants
    warn_at: datetime | None = None


def compute_elapsed(clock: Clock, started_at: datetime) -> Due:
    """The due and warning instants of an elapsed-time clock started at ``started_at``."""
    due_at = started_at + timedelta(minutes=clock.minutes or 0)
    warn_at = None
    if clock.warn > 0:
        before = timedelta(hours=clock.warn) if clock.warn_unit == "hours" else timedelta(minutes=clock.warn)
        warn_at = max(due_at - before, started_at)
    return Due(china_date(due_at), warn_at and china_date(warn_at), False, due_at, warn_at)


def china_date(at: datetime) -> date:
    return at.astimezone(core_clock.CHINA).date()


def _pauses(raw: list[list[str | None]]) -> list[Pause]:
    return [Pause(date.fromisoformat(a), date.fromisoformat(b) if b else None) for a, b in raw]


def compute(cal: Calendar, clock: Clock, started_on: date, pauses: list[Pause], extended: int,
            names: Mapping[str, Any]) -> Due:
    """The due and warning dates of ``clock`` (``None`` while an open pause stops it)."""
    provisional = False
    if clock.date is not None:
        value = evaluate(clock.date, names)
        if not value:
            return Due(None, None, False)
        due: date | None = value if isinstance(value, date) else date.fromisoformat(str(value))
        due = due + timedelta(days=extended) if extended else due
    else:
        n = (clock.days or 0) + extended
        try:
            due = cal.deadline(started_on, n, clock.unit or "working_days", pauses)
        except CalendarGap:
            lenient = Calendar(_entries(cal), cal.years, strict=False)
            due = lenient.deadline(started_on, n, clock.unit or "working_days", pauses)
            provisional = True
    if due is None:
        return Due(None, None, provisional)
    return Due(due, _warn_date(cal, due, clock.warn, started_on), provisional)


def _entries(cal: Calendar) -> list[Any]:
    return list(cal._entries.values())  # noqa: SLF001 - the same schedule, without the strict year check


def _warn_date(cal: Calendar, due: date, warn: int, started_on: date) -> date | None:
    """``warn`` working days before ``due`` (not before the clock started)."""
    if warn <= 0:
        return None
    lenient = Calendar(_entries(cal), cal.years, strict=False)
    day, counted = due, 0
    while counted < warn and day > started_on:
        day -= ONE_DAY
        if lenient.is_working_day(day):
            counted += 1
    return max(day, started_on)


def breach_instant(due: date) -> datetime:
    return core_clock.china_midnight(due + ONE_DAY)


# -- the clocks of one case, as the engine moves it ------------------------------------------------------------
def on_state_change(conn: Connection, ct: CaseType, case_id: int, from_state: str | None, to_state: str,
                    names: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Start, pause, resume, stop or recount the case's clocks for ``from_state → to_state``; returns what
    changed (for the event's results)."""
    today = core_clock.today()
    rows = {r.clock: r for r in conn.execute(text(
        "SELECT * FROM case_clocks WHERE case_id = :id FOR UPDATE"), {"id": case_id})}
    cal = calendar(conn)
    pausing = set(ct.states[to_state].pause)
    was_pausing = set(ct.states[from_state].pause) if from_state else set()
    out: list[dict[str, Any]] = []
    for clock in ct.clocks.values():
        row = rows.get(clock.id)
        active = row is not None and row.status in ("running", "paused", "breached")
        leaving_bound = clock.bound and from_state in clock.start and to_state != from_state
        if active and (to_state in clock.stop or leaving_bound):
            past = (row.due_at < core_clock.now()) if row.due_at is not None else (
                row.due_date is not None and row.due_date < today)
            status = "late" if row.status == "breached" or past else "met"
            if ct.states[to_state].final and row.status != "breached" and to_state not in clock.stop \
                    and not clock.bound:
                status = "stopped"
            conn.execute(text("UPDATE case_clocks SET status = :s, stopped_at = :now, generation = generation + 1 "
                              "WHERE case_id = :id AND clock = :c"),
                         {"s": status, "now": core_clock.now(), "id": case_id, "c": clock.id})
            _drop_timers(conn, case_id, clock.id)
            out.append({"clock": clock.id, "status": status})
            active = False
        if to_state in clock.start and not active:   # (a bound clock was stopped just above on re-entry)
            out.append(_start(conn, cal, clock, case_id, today, names, paused=clock.id in pausing))
        elif active and from_state == to_state and clock.date is not None:
            out.append(_recount(conn, cal, clock, case_id, names))   # a self-transition may move a date deadline
        elif active and clock.id in pausing and row.status != "paused":
            pauses = list(row.pauses) + [[(today + ONE_DAY).isoformat(), None]]
            conn.execute(text("UPDATE case_clocks SET status = 'paused', due_date = NULL, warn_date = NULL, "
                              "pauses = CAST(:p AS jsonb), generation = generation + 1 WHERE case_id = :id AND "
                              "clock = :c"), {"p": json.dumps(pauses), "id": case_id, "c": clock.id})
            _drop_timers(conn, case_id, clock.id)
            out.append({"clock": clock.id, "status": "paused"})
        elif active and row.status == "paused" and clock.id in was_pausing and clock.id not in pausing:
            pauses = [list(p) for p in row.pauses]
            first = date.fromisoformat(pauses[-1][0])
            if today < first:      # paused and resumed on the same day: no day stood still
                pauses.pop()
            else:
                pauses[-1][1] = today.isoformat()
            conn.execute(text("UPDATE case_clocks SET status = 'running', pauses = CAST(:p AS jsonb) "
                              "WHERE case_id = :id AND clock = :c"),
                         {"p": json.dumps(pauses), "id": case_id, "c": clock.id})
            out.append(_recount(conn, cal, clock, case_id, names))
    return out


def _start(conn: Connection, cal: Calendar, clock: Clock, case_id: int, today: date, names: Mapping[str, Any],
           *, paused: bool) -> dict[str, Any]:
    conn.execute(text(
        "INSERT INTO case_clocks (case_id, clock, status, started_on, started_at, pauses, generation) "
        "VALUES (:id, :c, :s, :d, :at, CAST(:p AS jsonb), 1) ON CONFLICT (case_id, clock) DO UPDATE SET "
        "status = EXCLUDED.status, started_on = EXCLUDED.started_on, started_at = EXCLUDED.started_at, "
        "pauses = EXCLUDED.pauses, due_date = NULL, warn_date = NULL, due_at = NULL, warn_at = NULL, "
        "extended_days = 0, breached_at = NULL, stopped_at = NULL, generation = case_clocks.generation + 1"),
        {"id": case_id, "c": clock.id, "s": "paused" if paused else "running", "d": today, "at": core_clock.now(),
         "p": json.dumps([[(today + ONE_DAY).isoformat(), None]] if paused else [])})
    if paused:
        _drop_timers(conn, case_id, clock.id)
        return {"clock": clock.id, "status": "paused"}
    return _recount(conn, cal, clock, case_id, names)   # (which drops the timers of the earlier run)


def _recount(conn: Connection, cal: Calendar, clock: Clock, case_id: int, names: Mapping[str, Any]) -> dict[str, Any]:
    """Count the due date again and lay its timers (after a start, a resume, an extension or a new date)."""
    row = conn.execute(text("SELECT * FROM case_clocks WHERE case_id = :id AND clock = :c"),
                       {"id": case_id, "c": clock.id}).one()
    if clock.elapsed:
        due = compute_elapsed(clock, row.started_at or core_clock.china_midnight(row.started_on))
    else:
        try:
            due = compute(cal, clock, row.started_on, _pauses(row.pauses), row.extended_days, names)
        except ClockStopped:
            due = Due(None, None, False)
    status = row.status
    if status == "breached" and due.due_at is None and due.due_date is not None \
            and due.due_date >= core_clock.today():
        status = "running"   # a later deadline (an extension) takes the case out of breach
    generation = conn.execute(text(
        "UPDATE case_clocks SET due_date = :due, warn_date = :warn, due_at = :due_at, warn_at = :warn_at, "
        "provisional = :prov, status = :s, breached_at = CASE WHEN :keep THEN breached_at END, "
        "generation = generation + 1 WHERE case_id = :id AND clock = :c RETURNING generation"),
        {"due": due.due_date, "warn": due.warn_date, "due_at": due.due_at, "warn_at": due.warn_at,
         "prov": due.provisional, "s": status, "keep": status == "breached", "id": case_id,
         "c": clock.id}).scalar_one()
    _drop_timers(conn, case_id, clock.id)
    if due.due_at is not None:
        timers = [("breach", due.due_at)] if status != "breached" else []
        if due.warn_at is not None and status != "breached":
            timers.append(("warn", due.warn_at))
        for kind, at in timers:
            conn.execute(text("INSERT INTO case_timers (case_id, clock, generation, kind, fire_at) "
                              "VALUES (:id, :c, :g, :k, :at)"),
                         {"id": case_id, "c": clock.id, "g": generation, "k": kind, "at": at})
    elif due.due_date is not None:
        timers = [("breach", breach_instant(due.due_date))] if status != "breached" else []
        if due.warn_date is not None and status != "breached":
            timers.append(("warn", core_clock.china_midnight(due.warn_date)))
        for kind, at in timers:
            conn.execute(text("INSERT INTO case_timers (case_id, clock, generation, kind, fire_at) "
                              "VALUES (:id, :c, :g, :k, :at)"),
                         {"id": case_id, "c": clock.id, "g": generation, "k": kind, "at": at})
    out = {"clock": clock.id, "status": status, "due_date": due.due_date and due.due_date.isoformat(),
           "warn_date": due.warn_date and due.warn_date.isoformat(), "provisional": due.provisional}
    if due.due_at is not None:
        out.update(due_at=due.due_at.isoformat(), warn_at=due.warn_at and due.warn_at.isoformat())
    return out


def extend(conn: Connection, ct: CaseType, case_id: int, clock_id: str, days: int,
           names: Mapping[str, Any]) -> dict[str, Any]:
    conn.execute(text("UPDATE case_clocks SET extended_days = extended_days + :d WHERE case_id = :id AND clock = :c"),
                 {"d": days, "id": case_id, "c": clock_id})
    return _recount(conn, calendar(conn), ct.clocks[clock_id], case_id, names)


def deadline(conn: Connection, start: date, n: int, unit: str = "working_days") -> tuple[date, bool]:
    """``n`` days (``unit``) after ``start`` by the holiday schedule, and whether it is provisional (counted by the
    weekday rule over a year whose schedule is not known): a deadline kept as data rather than as a clock."""
    cal = calendar(conn)
    try:
        return cal.deadline(start, n, unit), False
    except CalendarGap:
        return Calendar(_entries(cal), cal.years, strict=False).deadline(start, n, unit), True


def recount(conn: Connection, ct: CaseType, case_id: int, clock_id: str, names: Mapping[str, Any]) -> dict[str, Any]:
    """Count a running clock's due date again from ``names``: an effect that writes the data a ``date`` deadline
    reads (a filing's validity) recounts it in the same move (clocks start before the effects run)."""
    return _recount(conn, calendar(conn), ct.clocks[clock_id], case_id, names)


def _drop_timers(conn: Connection, case_id: int, clock_id: str) -> None:
    conn.execute(text("DELETE FROM case_timers WHERE case_id = :id AND clock = :c AND fired_at IS NULL"),
                 {"id": case_id, "c": clock_id})


def summarise(conn: Connection, case_id: int) -> tuple[date | None, date | None, bool]:
    """(earliest due date, earliest warning date, any clock breached) of the case's live clocks."""
    due, warn, breached, _at = summarise_instants(conn, case_id)
    return due, warn, breached


def summarise_instants(conn: Connection, case_id: int) -> tuple[date | None, date | None, bool, datetime | None]:
    """As :func:`summarise`, and the earliest due instant of its running elapsed-time clocks."""
    row = conn.execute(text(
        "SELECT min(due_date), min(warn_date), coalesce(bool_or(status = 'breached'), false), "
        "min(due_at) FILTER (WHERE status = 'running') FROM case_clocks "
        "WHERE case_id = :id AND status IN ('running', 'breached')"), {"id": case_id}).one()
    return row[0], row[1], bool(row[2]), row[3]


__all__ = ["Due", "breach_instant", "calendar", "china_date", "compute", "compute_elapsed", "deadline", "extend", "on_state_change", "recount",
           "summarise", "summarise_instants"]
