"""The ``workdays`` table: the holiday schedule the deadlines count with, seeded from ``chinese-calendar`` and kept
by an administrator (the State Council announces each year's schedule in November; the package lags behind it).

Rows are exceptions to the weekday rule: ``holiday`` (a day off of the notice), ``workday`` (a weekend day worked by
调休) and ``normal`` (an administrator's override back to the weekday rule, kept as a row so that seeding again does
not undo it). ``workday_years`` lists the years whose schedule is complete: a deadline counted into a year not listed
fails (:class:`core.workdays.CalendarGap`) instead of silently assuming that year has no holidays.

Seeding is idempotent: it rewrites the package's rows of the years it seeds and never touches a row an administrator
set (``source = 'admin'``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.engine import Connection

from core.workdays import Calendar, DayEntry, DayKind, chinese_calendar_entries

SOURCES = ("chinese-calendar", "admin")


def define_tables(metadata: MetaData) -> None:
    Table(
        "workdays", metadata,
        Column("day", Date, primary_key=True, comment="日期"),
        Column("kind", String(10), nullable=False, comment="holiday 放假 / workday 调休上班 / normal 按周规则"),
        Column("name", String(60), comment="节日名称(春节等)"),
        Column("source", String(20), nullable=False, comment="chinese-calendar 或 admin"),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_by", String(64), comment="修改人(管理员)"),
        CheckConstraint("kind IN ('holiday', 'workday', 'normal')", name="kind_known"),
        CheckConstraint("source IN ('chinese-calendar', 'admin')", name="source_known"),
        comment="节假日与调休安排(周一至周五工作日之外的例外)",
    )
    Table(
        "workday_years", metadata,
        Column("year", Integer, primary_key=True, autoincrement=False, comment="年份"),
        Column("source", String(20), nullable=False, comment="chinese-calendar 或 admin"),
        Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_plausible"),
        CheckConstraint("source IN ('chinese-calendar', 'admin')", name="source_known"),
        comment="节假日安排已完整录入的年份",
    )


def load_calendar(conn: Connection) -> Calendar:
    """The calendar as the table holds it."""
    rows = conn.execute(text("SELECT day, kind, name FROM workdays")).all()
    years = conn.execute(text("SELECT year FROM workday_years")).scalars().all()
    return Calendar([DayEntry(r.day, DayKind(r.kind), r.name) for r in rows], years)


def seed(conn: Connection, years: range | list[int]) -> dict[int, int]:
    """Write the package's schedule of ``years`` (raises CalendarGap, writing nothing, for a year it lacks);
    returns the number of package rows per year. Runs in the caller's transaction."""
    entries = chinese_calendar_entries(years)  # checks every year before anything is written
    counts: dict[int, int] = {}
    for year in years:
        mine = [e for e in entries if e.day.year == year]
        # the package's earlier rows of the year that it no longer lists go (a corrected schedule); admin rows stay
        conn.execute(text("DELETE FROM workdays WHERE source = 'chinese-calendar' AND extract(year FROM day) = :y "
                          "AND NOT (day = ANY(:days))"), {"y": year, "days": [e.day for e in mine]})
        if mine:
            conn.execute(text(
                "INSERT INTO workdays (day, kind, name, source) VALUES (:day, :kind, :name, 'chinese-calendar') "
                "ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, name = excluded.name, updated_at = now() "
                "WHERE workdays.source = 'chinese-calendar' "
                "AND (workdays.kind, workdays.name) IS DISTINCT FROM (excluded.kind, excluded.name)"),
                [{"day": e.day, "kind": e.kind.value, "name": e.name} for e in mine])
        conn.execute(text("INSERT INTO workday_years (year, source) VALUES (:y, 'chinese-calendar') "
                          "ON CONFLICT (year) DO NOTHING"), {"y": year})
        counts[year] = len(mine)
    return counts


def set_day(conn: Connection, day: date, kind: DayKind, name: str | None, by: str | None) -> None:
    """An administrator's entry for one date; it wins over the package from now on."""
    if kind is not DayKind.NORMAL and not (name or "").strip():
        raise ValueError(f"a {kind.value} needs the name of its holiday (e.g. 春节)")
    if kind is DayKind.WORKDAY and day.weekday() < 5:
        raise ValueError(f"{day.isoformat()} is a weekday: only a Saturday or Sunday can be a 调休 working day")
    if name is not None and len(name) > 60:
        raise ValueError("the holiday name is longer than 60 characters")
    conn.execute(text(
        "INSERT INTO workdays (day, kind, name, source, updated_by) VALUES (:day, :kind, :name, 'admin', :by) "
        "ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, name = excluded.name, source = 'admin', "
        "updated_by = excluded.updated_by, updated_at = now()"),
        {"day": day, "kind": kind.value, "name": (name or "").strip() or None, "by": by})


def confirm_year(conn: Connection, year: int) -> None:
    """Declare a year's schedule complete (after entering a notice the package does not have yet by hand)."""
    if not 2000 <= year <= 2100:
        raise ValueError(f"year {year} is outside 2000–2100")
    conn.execute(text("INSERT INTO workday_years (year, source) VALUES (:y, 'admin') ON CONFLICT (year) DO NOTHING"),
                 {"y": year})


__all__ = ["SOURCES", "confirm_year", "define_tables", "load_calendar", "seed", "set_day"]
