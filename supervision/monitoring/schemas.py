"""Inputs of the monitoring API, checked into values (each failure names the input and what it allows)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.errors import InvalidInput
from core.params import float_arg, int_arg
from supervision.monitoring.impact import ImpactQuery
from supervision.monitoring.service import AlarmQuery

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


__all__ = ["STATES", "alarm_query", "impact_query", "no_unknown"]
