"""Inputs of the monitoring API, checked into values (each failure names the input and what it allows)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.errors import InvalidInput, NotFound
from supervision.monitoring.readings import RANGES

# a device code of the sensors layer (<hazard-source code>-<GA/LV/TE/PR><nn>) or a hazard source's code: anything
# else names no row (404, like an unknown code) and never reaches SQL (a NUL byte would be a database error)
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
SAMPLE_FILE = re.compile(r"^(index\.m3u8|segment\d{3}\.ts)$")
RANGE_ALLOWED = ", ".join(RANGES)
SERIES_PARAMS = frozenset({"range", "lang"})
PLAIN_PARAMS = frozenset({"lang"})


def _no_unknown(args: Mapping[str, str], allowed: frozenset[str]) -> None:
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
    _no_unknown(args, SERIES_PARAMS)
    value = args.get("range", "hour")
    if value not in RANGES:
        raise InvalidInput("range", RANGE_ALLOWED, value=value[:60],
                           message_en=f"range must be one of {RANGE_ALLOWED}: got {value[:60]!r}",
                           message_zh=f"参数 range 只能是 {RANGE_ALLOWED}（最近一小时、一天、一周）：收到 {value[:60]!r}")
    return value


def plain(args: Mapping[str, str]) -> None:
    _no_unknown(args, PLAIN_PARAMS)


__all__ = ["CODE", "SAMPLE_FILE", "code", "plain", "series_range"]
