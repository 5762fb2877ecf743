"""Working days with 调休 and the deadline rules of Chinese administrative law (pure: no database).

A :class:`Calendar` knows, for the years whose holiday schedule it holds, which dates are statutory holidays (法定节假日,
including the weekend days folded into a holiday block) and which weekend dates are working days by 调休; every other
date follows the weekday rule (Monday–Friday working). It is built from the rows of the ``workdays`` table
(:mod:`core.workdays_store`) or straight from the ``chinese-calendar`` package (:meth:`Calendar.from_chinese_calendar`).

The rules implemented, with their legal basis:

* **The day of the event does not count.** 《民法典》第二百零一条: "按照年、月、日计算期间的，开始的当日不计入，自下一日开始
  计算"; 《民事诉讼法》"期间"条 (2017年修正本第八十二条第二款，其后修正条号后移): "期间开始的时和日，不计算在期间内". Every function here counts from the
  day after ``start``.
* **Periods in working days** (:meth:`Calendar.add_working_days`): 《行政许可法》第八十二条 "本法规定的行政机关实施行政许可的
  期限以工作日计算，不含法定节假日"; 《行政处罚法》(2021年修订) 第八十五条 "本法中'二日''三日''五日''七日'的规定是指工作日，
  不含法定节假日"; 《行政复议法》(2023年修订) 第八十八条第二款 (its 三日、五日、七日、十日 are working days). A 调休 Saturday
  or Sunday is a working day and counts; a weekday inside a holiday block does not.
* **Periods in calendar days** (:meth:`Calendar.add_calendar_days`): every day counts, but when the last day is a rest
  day the period ends on the first working day after it. 《民法典》第二百零三条第一款: "期间的最后一日是法定休假日的，以法定
  休假日结束的次日为期间的最后一日"; 《民事诉讼法》同条第三款: "期间届满的最后一日是法定休假日的，以法定休假日后的第一日为
  期间届满的日期" (which 《行政诉讼法》第一百零一条 and 《行政复议法》第八十八条第一款 apply to their own periods). 法定休假日
  is read by the courts to cover the ordinary weekend as well as the holidays; a 调休 working weekend day is not a rest day, so a period ending on it ends on it.
* **Time that does not count** (``pauses``): 《行政许可法》第四十五条 "依法需要听证、招标、拍卖、检验、检测、检疫、鉴定和专家
  评审的，所需时间不计算在本节规定的期限内"; likewise the time an applicant takes to 补正 after a 补正通知
  (《行政许可法》第三十二条). Which states stop the clock is the case type's to say; a paused date does not count towards
  any period, working or calendar.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

ONE_DAY = timedelta(days=1)


class DayKind(StrEnum):
    HOLIDAY = "holiday"   # a day off by the State Council's schedule (the festival and its 调休 days off)
    WORKDAY = "workday"   # a weekend day worked by 调休
    NORMAL = "normal"     # an administrator's override back to the weekday rule (stored so a re-seed keeps it)


# chinese-calendar names its holidays in English; the table and the screens use the names of the 国务院办公厅 notice.
HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


class CalendarGap(ValueError):
    """A date in a year whose holiday schedule is not known: counting through it would silently assume no holidays,
    and a deadline that is a week early or late is worse than none. The administrator seeds or enters the year."""

    def __init__(self, day: date, years: Iterable[int]) -> None:
        known = sorted(years)
        span = f"{known[0]}–{known[-1]}" if known else "none"
        super().__init__(f"the holiday schedule of {day.year} is not known (needed for {day.isoformat()}; known years: "
                         f"{span}); run `onemap calendar seed --years {day.year}` or enter the year's days with "
                         f"`onemap calendar set` and `onemap calendar confirm-year {day.year}`")
        self.day = day


@dataclass(frozen=True)
class Pause:
    """Dates ``first`` … ``last`` (both included) during which the clock stands still; ``last=None``: still paused."""

    first: date
    last: date | None = None

    def __post_init__(self) -> None:
        if self.last is not None and self.last < self.first:
            raise ValueError(f"a pause cannot end ({self.last}) before it starts ({self.first})")

    def covers(self, day: date) -> bool:
        return self.first <= day and (self.last is None or day <= self.last)


class ClockStopped(Exception):
    """The period cannot end yet: an open pause began before it ran out."""


@dataclass(frozen=True)
class DayEntry:
    day: date
    kind: DayKind
    name: str | None = None


class Calendar:
    """Which dates are working days. ``years`` are the years whose schedule ``entries`` hold completely; with
    ``strict`` (the default) asking about a date outside them raises :class:`CalendarGap`."""

    def __init__(self, entries: Iterable[DayEntry], years: Iterable[int], *, strict: bool = True) -> None:
        self._entries = {e.day: e for e in entries}
        self.years = frozenset(years)
        self.strict = strict

    # -- construction ----------------------------------------------------------------------------------------------
    @classmethod
    def from_chinese_calendar(cls, years: Iterable[int]) -> Calendar:
        """The schedule as the ``chinese-calendar`` package has it (raises :class:`CalendarGap` for a year it lacks)."""
        return cls(chinese_calendar_entries(years), years)

    # -- single days -----------------------------------------------------------------------------------------------
    def entry(self, day: date) -> DayEntry | None:
        self._check(day)
        return self._entries.get(day)

    def is_working_day(self, day: date) -> bool:
        entry = self.entry(day)
        if entry is None or entry.kind is DayKind.NORMAL:
            return day.weekday() < 5
        return entry.kind is DayKind.WORKDAY

    def next_working_day(self, day: date, pauses: Iterable[Pause] = ()) -> date:
        """``day`` itself when it is a working day (and not paused), else the first one after it."""
        pauses = tuple(pauses)
        while not self.is_working_day(day) or _paused(day, pauses):
            day += ONE_DAY
        return day

    # -- periods ---------------------------------------------------------------------------------------------------
    def add_working_days(self, start: date, n: int, pauses: Iterable[Pause] = ()) -> date:
        """The last day of a period of ``n`` working days beginning the day after ``start`` (``start`` for n=0).

        Raises :class:`ClockStopped` when an open pause starts before the period runs out."""
        if n < 0:
            raise ValueError(f"a period cannot be negative ({n} working days)")
        if n == 0:
            return start
        for count, day in enumerate(self._counted(start, pauses, working=True), start=1):
            if count == n:
                return day
        raise AssertionError("unreachable: _counted is endless")

    def add_calendar_days(self, start: date, n: int, pauses: Iterable[Pause] = ()) -> date:
        """The last day of a period of ``n`` calendar days beginning the day after ``start``, moved to the next
        working day when it falls on a weekend or holiday (《民法典》第二百零三条, 《民事诉讼法》期间条)."""
        if n < 0:
            raise ValueError(f"a period cannot be negative ({n} calendar days)")
        if n == 0:
            return start
        pauses = tuple(pauses)
        for count, day in enumerate(self._counted(start, pauses, working=False), start=1):
            if count == n:
                return self._roll(day, pauses)
        raise AssertionError("unreachable: _counted is endless")

    def deadline(self, start: date, n: int, unit: str, pauses: Iterable[Pause] = ()) -> date | None:
        """``add_working_days`` (unit ``"working_days"``) or ``add_calendar_days`` (``"calendar_days"``); ``None``
        while the clock is stopped by an open pause (the deadline is not known until the pause ends)."""
        adders = {"working_days": self.add_working_days, "calendar_days": self.add_calendar_days}
        if unit not in adders:
            raise ValueError(f"unknown period unit {unit!r} (allowed: {', '.join(adders)})")
        try:
            return adders[unit](start, n, pauses)
        except ClockStopped:
            return None

    def working_days_between(self, start: date, end: date, pauses: Iterable[Pause] = ()) -> int:
        """How many working days (not paused) fall after ``start`` up to and including ``end``; negative when
        ``end`` is before ``start`` (a deadline already passed, in working days overdue)."""
        if end < start:
            return -self.working_days_between(end, start, pauses)
        pauses = tuple(pauses)
        count = 0
        day = start + ONE_DAY
        while day <= end:
            if self.is_working_day(day) and not _paused(day, pauses):
                count += 1
            day += ONE_DAY
        return count

    # -- internals -------------------------------------------------------------------------------------------------
    def _counted(self, start: date, pauses: Iterable[Pause], *, working: bool) -> Iterator[date]:
        """The days that count, from the day after ``start`` on."""
        pauses = tuple(pauses)
        day = start
        while True:
            day += ONE_DAY
            if any(p.last is None and p.first <= day for p in pauses):
                raise ClockStopped(day)
            if _paused(day, pauses) or (working and not self.is_working_day(day)):
                continue
            yield day

    def _roll(self, day: date, pauses: tuple[Pause, ...]) -> date:
        while not self.is_working_day(day) or _paused(day, pauses):
            day += ONE_DAY
            if any(p.last is None and p.first <= day for p in pauses):
                raise ClockStopped(day)
        return day

    def _check(self, day: date) -> None:
        if self.strict and day.year not in self.years:
            raise CalendarGap(day, self.years)


def _paused(day: date, pauses: tuple[Pause, ...]) -> bool:
    return any(p.covers(day) for p in pauses)


def chinese_calendar_years() -> range:
    """The years the installed ``chinese-calendar`` package has a schedule for."""
    import chinese_calendar

    known = {d.year for d in chinese_calendar.holidays}
    return range(min(known), max(known) + 1)


def chinese_calendar_entries(years: Iterable[int]) -> list[DayEntry]:
    """The package's holidays and 调休 working days of ``years``, with the notice's Chinese names."""
    import chinese_calendar

    years = set(years)
    covered = chinese_calendar_years()
    for year in sorted(years):
        if year not in covered:
            raise CalendarGap(date(year, 1, 1), covered)
    entries = [DayEntry(d, DayKind.HOLIDAY, HOLIDAY_NAMES_ZH.get(name, name))
               for d, name in chinese_calendar.holidays.items() if d.year in years]
    entries += [DayEntry(d, DayKind.WORKDAY, HOLIDAY_NAMES_ZH.get(name, name))
                for d, name in chinese_calendar.workdays.items() if d.year in years]
    return sorted(entries, key=lambda e: e.day)


__all__ = ["HOLIDAY_NAMES_ZH", "Calendar", "CalendarGap", "ClockStopped", "DayEntry", "DayKind", "Pause",
           "chinese_calendar_entries", "chinese_calendar_years"]
