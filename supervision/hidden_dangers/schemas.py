"""Inputs of the hidden-danger statistics API, checked into values (each failure names the input and what it allows)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from core.errors import InvalidInput
from core.params import int_arg

# what a figure can be grouped by; "industry" is the enterprise's supervision sector (危险化学品, 烟花爆竹, ...),
# "industry_code" its GB/T 4754 class
GROUPINGS = ("district", "grid_cell", "industry", "industry_code", "category", "level", "state", "source")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_ALLOWED = "a date YYYY-MM-DD (a day in China, Asia/Shanghai)"
MAX_MONTHS = 120
STATS_PARAMS = frozenset({"by", "from", "to", "lang"})
TREND_PARAMS = frozenset({"months", "lang"})
HEAT_PARAMS = frozenset({"lang"})


@dataclass(frozen=True)
class StatsQuery:
    by: str
    start: date | None  # first day reported (inclusive)
    end: date | None    # last day reported (inclusive)


def _no_unknown(args: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise InvalidInput(unknown[0], "query parameters: " + ", ".join(sorted(allowed)),
                           details={"reason": "unknown query parameter"})


def _date(args: Mapping[str, str], name: str) -> date | None:
    raw = args.get(name, "")
    if raw == "":
        return None
    if not DATE_RE.match(raw):
        raise InvalidInput(name, DATE_ALLOWED, value=raw)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(name, DATE_ALLOWED, value=raw, details={"reason": "no such day"}) from None


def stats_query(args: Mapping[str, str]) -> StatsQuery:
    """``GET /api/hidden-dangers/stats?by=&from=&to=``: ``from``/``to`` bound the day reported, both inclusive."""
    _no_unknown(args, STATS_PARAMS)
    by = args.get("by") or "district"
    if by not in GROUPINGS:
        raise InvalidInput("by", ", ".join(GROUPINGS), value=by)
    start, end = _date(args, "from"), _date(args, "to")
    if start and end and end < start:
        raise InvalidInput("to", f"a day on or after from ({start.isoformat()})", value=end.isoformat(),
                           message_zh=f"参数 to（{end.isoformat()}）早于 from（{start.isoformat()}）",
                           details={"reason": "before from"})
    return StatsQuery(by, start, end)


def trend_months(args: Mapping[str, str]) -> int:
    """``GET /api/hidden-dangers/trend?months=N``: the last N months, the current one included."""
    _no_unknown(args, TREND_PARAMS)
    return int_arg(args, "months", 24, 1, MAX_MONTHS)


def heat_query(args: Mapping[str, str]) -> None:
    _no_unknown(args, HEAT_PARAMS)


__all__ = ["GROUPINGS", "MAX_MONTHS", "StatsQuery", "heat_query", "stats_query", "trend_months"]
