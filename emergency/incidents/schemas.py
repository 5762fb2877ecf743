"""Incident intake (接报), follow-up reports (续报) and edits: what may come in, checked field by field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import InvalidInput
from core.geo.points import parse_crs, to_storage
from emergency.models import REPORT_SOURCES
from layers.registry import default_registry

LEVEL_LABELS = {1: "Ⅰ级（特别重大）", 2: "Ⅱ级（重大）", 3: "Ⅲ级（较大）", 4: "Ⅳ级（一般）"}
_LEVEL_NAMES = {"Ⅰ": 1, "Ⅱ": 2, "Ⅲ": 3, "Ⅳ": 4, "I": 1, "II": 2, "III": 3, "IV": 4}
LEVEL_ALLOWED = "1..4 (or Ⅰ, Ⅱ, Ⅲ, Ⅳ / I, II, III, IV); Ⅰ is the most severe"
MAX_CLOCK_SKEW = timedelta(minutes=10)  # a report "from the future" beyond this is a typo, not clock drift
MAX_PERSONS = 100_000
INTAKE_KEYS = ("reported_at", "source", "reporter", "location", "kind", "title", "enterprise_uscc", "casualties",
               "description", "response_level")
UPDATE_KEYS = ("title", "kind", "response_level", "description", "enterprise_uscc")
REPORT_KEYS = ("reported_at", "source", "reporter", "text", "casualties")


def _incident_field(name: str):  # noqa: ANN202 - a registry Field
    return default_registry().get("incidents").field(name)


def kind_label(kind: str) -> str | None:
    """The Chinese words for an incident kind (``labels`` of ``kind`` in the incidents layer file)."""
    return _incident_field("kind").label_of(kind, "zh-CN")


def check_keys(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(unknown[0], "one of " + ", ".join(allowed), value=unknown[0],
                           details={"reason": "unknown field"})


def parse_level(value: Any, name: str = "response_level") -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().upper().removesuffix("级") in _LEVEL_NAMES:
        return _LEVEL_NAMES[value.strip().upper().removesuffix("级")]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
        return value
    raise InvalidInput(name, LEVEL_ALLOWED, value=value)


def parse_time(value: Any, name: str, *, now: datetime) -> datetime:
    """An ISO 8601 instant with its UTC offset; ``None`` means now. Naive times are refused (whose clock?)."""
    if value is None:
        return now
    allowed = "an ISO 8601 date-time with UTC offset, e.g. 2026-11-28T09:30:00+08:00, not in the future"
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidInput(name, allowed, value=value)
    if moment.tzinfo is None:
        raise InvalidInput(name, allowed, value=value, details={"reason": "no UTC offset"})
    if moment > now + MAX_CLOCK_SKEW:
        raise InvalidInput(name, allowed, value=value, details={"reason": "in the future"})
    return moment


def parse_kind(value: Any) -> str:
    allowed = _incident_field("kind").enum or ()
    if value not in allowed:
        raise InvalidInput("kind", "one of " + ", ".join(map(str, allowed)), value=value)
    return str(value)


def parse_text(value: Any, name: str, length: int | None, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(name, "non-empty text", details={"reason": "required"})
        return None
    if not isinstance(value, str) or (length is not None and len(value) > length):
        raise InvalidInput(name, f"text of at most {length} characters" if length else "text", value=value)
    return value.strip()


def parse_source(value: Any) -> str | None:
    if value is None:
        return None
    if value not in REPORT_SOURCES:
        raise InvalidInput("source", "one of " + ", ".join(REPORT_SOURCES), value=value)
    return str(value)


def parse_reporter(value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict) or set(value) - {"name", "phone"}:
        raise InvalidInput("reporter", '{"name": text ≤ 30, "phone": text ≤ 20}', value=value)
    return parse_text(value.get("name"), "reporter.name", 30), parse_text(value.get("phone"), "reporter.phone", 20)


def parse_casualties(value: Any) -> dict[str, int | None]:
    out: dict[str, int | None] = {"deaths": None, "injuries": None, "missing": None}
    if value is None:
        return out
    if not isinstance(value, dict) or set(value) - set(out):
        raise InvalidInput("casualties", '{"deaths", "injuries", "missing"}: integers ≥ 0', value=value)
    for key in out:
        n = value.get(key)
        if n is None:
            continue
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_PERSONS:
            raise InvalidInput(f"casualties.{key}", f"an integer 0..{MAX_PERSONS}", value=n)
        out[key] = n
    return out


@dataclass(frozen=True)
class Location:
    """Where: a point (with its declared CRS), or an enterprise / hazard source whose location is used."""

    lon: float | None = None
    lat: float | None = None
    enterprise_uscc: str | None = None
    hazard_source_code: str | None = None


def parse_location(value: Any) -> Location:
    allowed = ('{"lon", "lat", "crs"} (crs: cgcs2000 default, wgs84, gcj02, bd09, EPSG:n), '
               '{"enterprise_uscc"} or {"hazard_source_code"}')
    if not isinstance(value, dict):
        raise InvalidInput("location", allowed, value=value, details={"reason": "required" if value is None
                                                                        else "not an object"})
    keys = set(value)
    if keys and keys <= {"lon", "lat", "crs"}:
        lon, lat = to_storage(value.get("lon"), value.get("lat"), parse_crs(value.get("crs"), "location.crs"),
                              ("location.lon", "location.lat"))
        return Location(lon=lon, lat=lat)
    if keys == {"enterprise_uscc"}:
        return Location(enterprise_uscc=parse_text(value["enterprise_uscc"], "location.enterprise_uscc", 18,
                                                   required=True))
    if keys == {"hazard_source_code"}:
        return Location(hazard_source_code=parse_text(value["hazard_source_code"], "location.hazard_source_code",
                                                      20, required=True))
    raise InvalidInput("location", allowed, value=value)


def utc_now() -> datetime:
    return datetime.now(UTC)
