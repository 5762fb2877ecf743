"""Working days with 调休, against hand-computed deadlines across the 2024–2026 schedules of the 国务院办公厅, and
properties that must hold for any start and length."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.workdays import (
    Calendar,
    CalendarGap,
    ClockStopped,
    DayEntry,
    DayKind,
    Pause,
    chinese_calendar_entries,
    chinese_calendar_years,
)

D = date.fromisoformat
CAL = Calendar.from_chinese_calendar([2024, 2025, 2026])


def _days(first: str, last: str) -> list[date]:
    a, b = D(first), D(last)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


# 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电〔2025〕7号), typed from the notice, not from the package:
# 元旦 1月1日至3日，1月4日(周日)上班；春节 2月15日至23日，2月14日(周六)、2月28日(周六)上班；清明节 4月4日至6日；
# 劳动节 5月1日至5日，5月9日(周六)上班；端午节 6月19日至21日；中秋节 9月25日至27日；国庆节 10月1日至7日，
# 9月20日(周日)、10月10日(周六)上班。
NOTICE_2026_HOLIDAYS = {
    "元旦": _days("2026-01-01", "2026-01-03"), "春节": _days("2026-02-15", "2026-02-23"),
    "清明节": _days("2026-04-04", "2026-04-06"), "劳动节": _days("2026-05-01", "2026-05-05"),
    "端午节": _days("2026-06-19", "2026-06-21"), "中秋节": _days("2026-09-25", "2026-09-27"),
    "国庆节": _days("2026-10-01", "2026-10-07"),
}
NOTICE_2026_WORKDAYS = [D(d) for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20",
                                      "2026-10-10")]


def test_the_package_covers_2024_to_2026() -> None:
    assert {2024, 2025, 2026} <= set(chinese_calendar_years())


def test_the_packages_2026_schedule_is_the_published_notice() -> None:
    entries = chinese_calendar_entries([2026])
    holidays = {e.day: e.name for e in entries if e.kind is DayKind.HOLIDAY}
    assert holidays == {d: name for name, days in NOTICE_2026_HOLIDAYS.items() for d in days}
    assert sorted(e.day for e in entries if e.kind is DayKind.WORKDAY) == NOTICE_2026_WORKDAYS


@pytest.mark.parametrize(("start", "n", "expected"), [
    # 2024 春节: 2月10日至17日放假，2月4日(周日)、2月18日(周日)上班; 除夕 2月9日 is a working day
    ("2024-02-02", 1, "2024-02-04"),   # Saturday 3rd skipped, 调休 Sunday counts
    ("2024-02-01", 5, "2024-02-07"),   # 2, 4, 5, 6, 7
    ("2024-02-08", 1, "2024-02-09"),
    ("2024-02-09", 1, "2024-02-18"),   # the whole holiday is skipped, the working Sunday counts
    ("2024-02-09", 2, "2024-02-19"),
    # 2024 劳动节: 5月1日至5日，4月28日(周日)、5月11日(周六)上班
    ("2024-04-26", 1, "2024-04-28"),
    ("2024-04-30", 3, "2024-05-08"),   # 6, 7, 8
    ("2024-05-10", 1, "2024-05-11"),
    # 2025 国庆节+中秋节: 10月1日至8日共8天，9月28日(周日)、10月11日(周六)上班
    ("2025-09-26", 1, "2025-09-28"),
    ("2025-09-28", 3, "2025-10-09"),   # 29, 30, 10-09
    ("2025-09-30", 3, "2025-10-11"),   # 9, 10, 11 (Saturday worked)
    ("2025-09-25", 7, "2025-10-11"),   # 行政处罚法 "七日": 26, 28, 29, 30, 10-09, 10-10, 10-11
    ("2025-09-25", 8, "2025-10-13"),
    # 2026 (国办发明电〔2025〕7号)
    ("2025-12-31", 1, "2026-01-04"),   # across the year: 元旦 1–3, Sunday 4th worked
    ("2026-02-13", 1, "2026-02-14"),   # Saturday worked before 春节
    ("2026-02-13", 2, "2026-02-24"),   # 春节 15–23 skipped
    ("2026-02-13", 6, "2026-02-28"),   # 24, 25, 26, 27, then Saturday 28th worked
    ("2026-04-30", 1, "2026-05-06"),
    ("2026-05-06", 3, "2026-05-09"),
    ("2026-09-18", 1, "2026-09-20"),   # Sunday worked
    ("2026-09-24", 1, "2026-09-28"),   # 中秋 25–27
    ("2026-09-30", 3, "2026-10-10"),   # 国庆 1–7; 8, 9, Saturday 10th worked
    ("2024-06-03", 0, "2024-06-03"),
])
def test_add_working_days(start: str, n: int, expected: str) -> None:
    assert CAL.add_working_days(D(start), n) == D(expected)
    assert CAL.working_days_between(D(start), D(expected)) == n


@pytest.mark.parametrize(("start", "n", "expected"), [
    ("2024-03-01", 15, "2024-03-18"),  # ends Saturday 16th: the next working day, Monday 18th
    ("2024-03-01", 19, "2024-03-20"),  # ends on a working day: stays
    ("2024-02-01", 15, "2024-02-18"),  # ends in 春节 (16th): the next working day is the 调休 Sunday 18th
    ("2024-02-03", 15, "2024-02-18"),  # ends on the 调休 Sunday: a working day, stays
    ("2025-09-24", 10, "2025-10-09"),  # ends on 10-04 in the 8-day holiday: 10-09
    ("2025-10-01", 10, "2025-10-11"),  # ends on Saturday 10-11, worked by 调休: stays
    ("2026-01-20", 30, "2026-02-24"),  # ends 2-19 in 春节: the 24th
    ("2026-09-10", 10, "2026-09-20"),  # ends on the working Sunday
    ("2026-09-16", 10, "2026-09-28"),  # ends on 中秋 (26th): Monday 28th
])
def test_add_calendar_days_moves_a_last_day_off_to_the_next_working_day(start: str, n: int, expected: str) -> None:
    assert CAL.add_calendar_days(D(start), n) == D(expected)


def test_paused_days_do_not_count() -> None:
    # 补正 from the 24th to the 26th of September 2025: three working days do not count
    pause = Pause(D("2025-09-24"), D("2025-09-26"))
    assert CAL.add_working_days(D("2025-09-22"), 10) == D("2025-10-11")
    assert CAL.add_working_days(D("2025-09-22"), 10, [pause]) == D("2025-10-15")
    assert CAL.working_days_between(D("2025-09-22"), D("2025-10-15"), [pause]) == 10
    # calendar days: 5 paused days push a 15-day period from the 16th (Saturday → 18th) to Thursday the 21st
    assert CAL.add_calendar_days(D("2024-03-01"), 15, [Pause(D("2024-03-05"), D("2024-03-09"))]) == D("2024-03-21")


def test_an_open_pause_stops_the_clock_only_if_it_began_before_the_deadline() -> None:
    start = D("2025-09-22")
    assert CAL.deadline(start, 10, "working_days", [Pause(D("2025-09-24"))]) is None
    assert CAL.deadline(start, 10, "working_days", [Pause(D("2025-10-20"))]) == D("2025-10-11")
    assert CAL.deadline(D("2025-09-24"), 10, "calendar_days", [Pause(D("2025-10-03"))]) is None
    with pytest.raises(ClockStopped):
        CAL.add_working_days(start, 10, [Pause(D("2025-09-24"))])
    with pytest.raises(ValueError, match="unknown period unit 'days'"):
        CAL.deadline(start, 10, "days")
    with pytest.raises(ValueError, match="cannot end"):
        Pause(D("2025-09-24"), D("2025-09-23"))


def test_working_days_between_counts_backwards_as_negative() -> None:
    assert CAL.working_days_between(D("2025-10-11"), D("2025-09-28")) == -5
    assert CAL.working_days_between(D("2025-10-01"), D("2025-10-08")) == 0


def test_a_year_without_a_schedule_is_refused_not_assumed() -> None:
    with pytest.raises(CalendarGap, match="holiday schedule of 2027 is not known"):
        CAL.add_working_days(D("2026-12-28"), 5)
    with pytest.raises(CalendarGap, match="2027"):
        chinese_calendar_entries([max(chinese_calendar_years()) + 1])
    lenient = Calendar(chinese_calendar_entries([2026]), [2026], strict=False)
    # on request the weekday rule is assumed — and lands on 2027's 元旦, which is why strict is the default
    assert lenient.add_working_days(D("2026-12-30"), 2) == D("2027-01-01")


def test_an_administrators_entries_win() -> None:
    entries = [e for e in chinese_calendar_entries([2026]) if e.day != D("2026-02-23")]
    entries += [DayEntry(D("2026-02-23"), DayKind.NORMAL), DayEntry(D("2026-03-07"), DayKind.WORKDAY, "测试")]
    cal = Calendar(entries, [2026])
    assert cal.is_working_day(D("2026-02-23"))        # back to the weekday rule: a Monday
    assert cal.is_working_day(D("2026-03-07"))        # an extra working Saturday
    assert cal.add_working_days(D("2026-02-13"), 2) == D("2026-02-23")


# -- properties ------------------------------------------------------------------------------------------------------
starts = st.dates(min_value=D("2024-01-01"), max_value=D("2026-07-31"))
lengths = st.integers(min_value=1, max_value=80)


@settings(max_examples=300, deadline=None)
@given(starts, lengths)
def test_a_working_day_period_ends_on_its_nth_working_day(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert CAL.is_working_day(end)
    assert CAL.working_days_between(start, end) == n
    assert CAL.working_days_between(start, end - timedelta(days=1)) == n - 1  # the first such day, not a later one
    assert CAL.add_working_days(start, n + 1) > end


@settings(max_examples=300, deadline=None)
@given(starts, lengths)
def test_a_calendar_day_period_moves_only_past_days_off(start: date, n: int) -> None:
    end = CAL.add_calendar_days(start, n)
    nominal = start + timedelta(days=n)
    assert end >= nominal and CAL.is_working_day(end)
    assert not any(CAL.is_working_day(nominal + timedelta(days=i)) for i in range((end - nominal).days))


@settings(max_examples=200, deadline=None)
@given(starts, lengths, st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=20))
def test_a_pause_lengthens_a_period_by_exactly_the_working_days_it_covers(start: date, n: int, offset: int,
                                                                          length: int) -> None:
    pause = Pause(start + timedelta(days=offset), start + timedelta(days=offset + length))
    end = CAL.add_working_days(start, n, [pause])
    assert CAL.is_working_day(end) and not pause.covers(end)
    assert CAL.working_days_between(start, end, [pause]) == n
    plain = CAL.add_working_days(start, n)
    covered = CAL.working_days_between(start, end) - CAL.working_days_between(start, end, [pause])
    assert CAL.working_days_between(plain, end) == covered
