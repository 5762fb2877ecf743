"""The ``workdays`` table: seeded from chinese-calendar by ``onemap calendar seed`` (idempotent), corrected by an
administrator with ``onemap calendar set`` (which a re-seed keeps), and read back as the same calendar."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.pgcluster import PrivateCluster
from core.workdays import Calendar, CalendarGap, DayKind, chinese_calendar_years
from core.workdays_store import load_calendar, set_day
from tests.integration.kernel_support import migrated_database

ROOT = Path(__file__).resolve().parents[2]
ONEMAP = str(Path(sys.executable).parent / "onemap")
D = date.fromisoformat


@pytest.fixture(scope="module")
def url(pg_cluster: PrivateCluster) -> Iterator[str]:
    yield from migrated_database(pg_cluster, "k_workdays")


def onemap(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("ONEMAP_CONFIG", "PORT")}
    environ["DATABASE_URL"] = url
    return subprocess.run([ONEMAP, "calendar", *args], capture_output=True, text=True, env=environ, timeout=60,
                          cwd=ROOT)


def rows(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(sa.text(
            "SELECT day, kind, name, source FROM workdays ORDER BY day"))]
    engine.dispose()
    return found


def calendar(url: str) -> Calendar:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        cal = load_calendar(conn)
    engine.dispose()
    return cal


def test_seed_writes_the_packages_schedule_and_is_idempotent(url: str) -> None:
    first = onemap(url, "seed", "--years", "2024-2026")
    assert first.returncode == 0, first.stderr
    assert "2026: 39 holidays and 调休 working days" in first.stdout   # 33 days off + 6 working weekend days
    before = rows(url)
    again = onemap(url, "seed", "--years", "2024-2026")
    assert again.returncode == 0, again.stderr
    assert rows(url) == before
    cal = calendar(url)
    assert cal.years == {2024, 2025, 2026}
    assert cal.add_working_days(D("2025-09-30"), 3) == D("2025-10-11")
    assert cal.add_working_days(D("2024-02-09"), 1) == D("2024-02-18")
    assert (D("2026-02-15"), "holiday", "春节", "chinese-calendar") in before


def test_a_year_the_package_lacks_is_refused_and_nothing_is_written(url: str) -> None:
    missing = max(chinese_calendar_years()) + 1
    before = rows(url)
    result = onemap(url, "seed", "--years", f"2025-{missing}")
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert f"holiday schedule of {missing} is not known" in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert rows(url) == before


def test_an_administrators_day_wins_and_survives_a_reseed(url: str) -> None:
    assert onemap(url, "seed", "--years", "2026").returncode == 0
    # an extra day off (say, a local 调休 decided by the city) and a holiday given back
    assert onemap(url, "set", "2026-03-02", "holiday", "--name", "测试放假").returncode == 0
    result = onemap(url, "set", "2026-02-23", "normal")
    assert result.returncode == 0, result.stderr
    assert onemap(url, "seed", "--years", "2026").returncode == 0
    got = {r[0]: r for r in rows(url)}
    assert got[D("2026-03-02")][1:] == ("holiday", "测试放假", "admin")
    assert got[D("2026-02-23")][1:] == ("normal", None, "admin")
    cal = calendar(url)
    assert not cal.is_working_day(D("2026-03-02")) and cal.is_working_day(D("2026-02-23"))
    assert cal.add_working_days(D("2026-02-13"), 2) == D("2026-02-23")


@pytest.mark.parametrize(("args", "message"), [
    (["set", "2026-03-03", "holiday"], "needs the name of its holiday"),
    (["set", "2026-03-04", "workday", "--name", "x"], "2026-03-04 is a weekday"),
    (["set", "2026-13-01", "holiday", "--name", "x"], "'2026-13-01' does not match the format"),
    (["set", "2026-03-01", "weekend", "--name", "x"], "'weekend' is not one of"),
    (["seed", "--years", "2027-2025"], "the range ends before it starts"),
    (["seed", "--years", "abc"], "is not a year"),
    (["confirm-year", "1999"], "outside 2000–2100"),
])
def test_bad_input_is_refused_with_a_precise_message(url: str, args: list[str], message: str) -> None:
    before = rows(url)
    result = onemap(url, *args)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert rows(url) == before


def test_a_year_entered_by_hand_counts_once_confirmed(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # 2027's 元旦 entered by an administrator before the package has it
        set_day(conn, D("2027-01-01"), DayKind.HOLIDAY, "元旦", by="test")
    with pytest.raises(CalendarGap):
        calendar(url).add_working_days(D("2026-12-30"), 2)
    assert onemap(url, "confirm-year", "2027").returncode == 0
    assert calendar(url).add_working_days(D("2026-12-30"), 2) == D("2027-01-04")
    shown = onemap(url, "show", "2027")
    assert shown.returncode == 0 and "complete (admin)" in shown.stdout and "2027-01-01 holiday" in shown.stdout
    engine.dispose()


def test_the_demo_city_gets_the_schedule(url: str) -> None:
    from core.calendar_cli import load_demo

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        line = load_demo(conn, {})
    engine.dispose()
    assert line.startswith(f"holiday schedule: 2024–{max(chinese_calendar_years())}")
    assert {2024, 2025, 2026} <= calendar(url).years
