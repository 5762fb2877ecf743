"""``onemap calendar ...``: the holiday schedule deadlines count with (the ``workdays`` table).

    onemap calendar seed [--years 2024-2026]          the schedule from the chinese-calendar package (idempotent)
    onemap calendar set 2027-02-06 holiday --name 春节   an administrator's entry (wins over the package)
    onemap calendar confirm-year 2027                  the year's schedule is complete: deadlines may count in it
    onemap calendar show 2026                          the exceptions of a year and whether it is complete
"""

from __future__ import annotations

import getpass
import re
from datetime import date
from typing import Any

import click

from core.errors import DomainError
from core.workdays import CalendarGap, DayKind, chinese_calendar_years


class CalendarProblem(DomainError):
    """An entry or a year the command refuses (one line ``error: ...``, exit status 2, nothing written)."""

    http_status = 400
    code = "calendar_problem"


def _engine() -> Any:
    from core.config import load_config
    from core.db import check_database, get_engine, private_cluster

    config = load_config()
    if not config["database"]["url"]:
        private_cluster(config).up()
    engine = get_engine(config)
    check_database(engine)
    return engine


def parse_years(value: str) -> list[int]:
    """``2024-2027`` or ``2024,2026`` or ``2025``."""
    match = re.fullmatch(r"\s*(\d{4})\s*-\s*(\d{4})\s*", value)
    if match:
        first, last = int(match[1]), int(match[2])
        if last < first:
            raise click.BadParameter(f"{value!r}: the range ends before it starts")
        return list(range(first, last + 1))
    try:
        return sorted({int(v) for v in value.split(",")})
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a year, a range like 2024-2027 or a list like 2024,2026") from None


def _default_years() -> str:
    covered = chinese_calendar_years()
    return f"2024-{covered[-1]}"


@click.group("calendar")
def calendar_group() -> None:
    """Holidays and 调休 working days (the calendar of working-day deadlines)."""


@calendar_group.command("seed")
@click.option("--years", "years_text", default=None,
              help="years to seed: 2024-2027, 2024,2026 or 2025 (default: 2024 to the package's last year)")
def calendar_seed(years_text: str | None) -> None:
    """Write the chinese-calendar package's schedule; running it again changes nothing, and days an administrator
    set are kept."""
    from core.workdays_store import seed

    years = parse_years(years_text or _default_years())
    with _engine().begin() as conn:
        try:
            counts = seed(conn, years)
        except CalendarGap as exc:
            covered = chinese_calendar_years()
            raise CalendarProblem(f"{exc} (the installed chinese-calendar covers {covered[0]}–{covered[-1]}; "
                                  "nothing was written)") from None
    for year, n in counts.items():
        click.echo(f"{year}: {n} holidays and 调休 working days")


@calendar_group.command("set")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("kind", type=click.Choice([k.value for k in DayKind]))
@click.option("--name", default=None, help="the holiday the day belongs to (春节); required unless KIND is normal")
def calendar_set(day: Any, kind: str, name: str | None) -> None:
    """Make DAY a holiday, a 调休 working day, or follow the weekday rule again (normal)."""
    from core.workdays_store import set_day

    with _engine().begin() as conn:
        try:
            set_day(conn, day.date(), DayKind(kind), name, by=f"cli:{getpass.getuser()}"[:64])
        except ValueError as exc:
            raise CalendarProblem(str(exc)) from None
    click.echo(f"{day.date().isoformat()}: {kind}{' (' + name + ')' if name else ''}")


@calendar_group.command("confirm-year")
@click.argument("year", type=int)
def calendar_confirm_year(year: int) -> None:
    """Declare YEAR's schedule complete after entering its notice by hand."""
    from core.workdays_store import confirm_year

    with _engine().begin() as conn:
        try:
            confirm_year(conn, year)
        except ValueError as exc:
            raise CalendarProblem(str(exc)) from None
    click.echo(f"{year}: schedule complete")


@calendar_group.command("show")
@click.argument("year", type=int)
def calendar_show(year: int) -> None:
    """The exceptions to the weekday rule in YEAR."""
    from sqlalchemy import text

    with _engine().connect() as conn:
        complete = conn.execute(text("SELECT source FROM workday_years WHERE year = :y"), {"y": year}).scalar()
        rows = conn.execute(text("SELECT day, kind, name, source FROM workdays WHERE day BETWEEN :a AND :b "
                                 "ORDER BY day"), {"a": date(year, 1, 1), "b": date(year, 12, 31)}).all()
    click.echo(f"{year}: {'complete (' + complete + ')' if complete else 'NOT complete: deadlines cannot count in it'}")
    for r in rows:
        click.echo(f"{r.day.isoformat()} {r.kind:8} {r.name or '':10} {r.source}")


def load_demo(conn: Any, settings: dict) -> str:
    """The kernel's part of ``onemap demo build``: the schedule of 2024 to the package's last year, so that the
    demo's deadlines count with real holidays."""
    from core.workdays_store import seed

    years = list(parse_years(_default_years()))
    counts = seed(conn, years)
    return f"holiday schedule: {years[0]}–{years[-1]} ({sum(counts.values())} holidays and 调休 working days)"
