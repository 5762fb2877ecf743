"""Inputs of the monitoring API, checked into values (each failure names the input and what it allows)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.errors import InvalidInput, NotFound
from core.params import float_arg, int_arg
from supervision.monitoring.impact import ImpactQuery
from supervision.monitoring.readings import RANGES
from supervision.monitoring.service import AlarmQuery

# a device code of the sensors layer (<hazard-source code>-<GA/LV/TE/PR><nn>) or a hazard source's code: anything
# else names no row (404, like an unknown code) and never reaches SQL (a NUL byte would be a database error)
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
SAMPLE_FILE = re.compile(r"^(index\.m3u8|segment\d{3}\.ts)$")
RANGE_ALLOWED = ", ".join(RANGES)
SERIES_PARAMS = frozenset({"range", "lang"})
PLAIN_PARAMS = frozenset({"lang"})

STATES = ("open", "active", "cleared")
MAX_LIMIT = 500
MAX_CLEARED_H = 24 * 7
HAZARD_SOURCE_CODE = re.compile(r"^[A-Z0-9-]{1,20}$")
CAS = re.compile(r"^\d{2,7}-\d{2}-\d$")
STABILITIES = ("A", "B", "C", "D", "E", "F")
ALARM_PARAMS = frozenset({"state", "cleared_within_h", "level", "hazard_source", "limit", "lang"})
KPI_PARAMS = frozenset({"lang"})
ONE_PARAMS = frozenset({"lang"})
IMPACT_PARAMS = frozenset({"wind_speed_m_s", "wind_from_deg", "release_rate_g_s", "chemical", "stability", "lang"})


def no_unknown(args: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise InvalidInput(unknown[0], "query parameters: " + ", ".join(sorted(allowed)),
                           details={"reason": "unknown query parameter"})


def code(value: str, what: str) -> str:
    if not CODE.match(value):
        zh = {"sensor": "监测点", "hazard_source": "危险源"}.get(what, "视频点位")
        raise NotFound(f"no {what.replace('_', ' ')} {value[:60]!r}", f"{zh} {value[:60]} 不存在",
                       details={what: value[:60]})
    return value


def series_range(args: Mapping[str, str]) -> str:
    """``?range=hour|day|week`` (default hour): the last hour in one-minute buckets, the last day or week in
    one-hour buckets."""
    no_unknown(args, SERIES_PARAMS)
    value = args.get("range", "hour")
    if value not in RANGES:
        raise InvalidInput("range", RANGE_ALLOWED, value=value[:60],
                           message_en=f"range must be one of {RANGE_ALLOWED}: got {value[:60]!r}",
                           message_zh=f"参数 range 只能是 {RANGE_ALLOWED}（最近一小时、一天、一周）：收到 {value[:60]!r}")
    return value


def plain(args: Mapping[str, str]) -> None:
    no_unknown(args, PLAIN_PARAMS)



def alarm_query(args: Mapping[str, str]) -> AlarmQuery:
    """``GET /api/monitoring/alarms?state=open|active|cleared&cleared_within_h=&level=1|2&hazard_source=&limit=``"""
    no_unknown(args, ALARM_PARAMS)
    state = args.get("state") or "open"
    if state not in STATES:
        raise InvalidInput("state", ", ".join(STATES), value=state)
    level = args.get("level") or None
    if level is not None and level not in ("1", "2"):
        raise InvalidInput("level", "1 or 2", value=level)
    hazard_source = args.get("hazard_source") or None
    if hazard_source is not None and not HAZARD_SOURCE_CODE.match(hazard_source):
        raise InvalidInput("hazard_source", "a hazard source code (capital letters, digits and -, ≤ 20)",
                           value=hazard_source[:40])
    return AlarmQuery(state=state, cleared_within_h=int_arg(args, "cleared_within_h", 24, 1, MAX_CLEARED_H),
                      level=None if level is None else int(level), hazard_source=hazard_source,
                      limit=int_arg(args, "limit", 200, 1, MAX_LIMIT))


def impact_query(args: Mapping[str, str]) -> ImpactQuery:
    """``GET /api/monitoring/alarms/<id>/impact?wind_speed_m_s=&wind_from_deg=&release_rate_g_s=&chemical=&stability=``"""
    no_unknown(args, IMPACT_PARAMS)

    def number(name: str, lo: float, hi: float) -> float | None:
        return float_arg(args, name, -1.0, lo, hi) if args.get(name) not in (None, "") else None

    chemical = args.get("chemical") or None
    if chemical is not None and not CAS.match(chemical):
        raise InvalidInput("chemical", "a CAS number such as 7782-50-5", value=chemical[:40])
    stability = args.get("stability") or None
    if stability is not None and stability not in STABILITIES:
        raise InvalidInput("stability", "a Pasquill–Gifford class A–F", value=stability[:40])
    return ImpactQuery(wind_speed_m_s=number("wind_speed_m_s", 0.5, 30.0),
                       wind_from_deg=number("wind_from_deg", 0.0, 360.0),
                       release_rate_g_s=number("release_rate_g_s", 0.001, 1e7),
                       chemical=chemical, stability=stability)


__all__ = ["CODE", "SAMPLE_FILE", "STATES", "alarm_query", "code", "impact_query", "no_unknown", "plain",
           "series_range"]
