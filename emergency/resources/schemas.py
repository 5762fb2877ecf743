"""Validation of resource attributes against the layer registry: required, type, enum, range, length.

The same rules serve the JSON API (values arrive typed) and the importers (values arrive as CSV text or Excel
cells, so ``coerce=True`` turns "12" into 12 and "" into "missing"). Every problem names the field.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from core.errors import InvalidInput
from emergency.models import resource_layers
from layers.registry import Field, Layer, default_registry

LOCATION_KEYS = ("lon", "lat", "crs")
_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}


def resource_layer(kind: object, input_name: str = "kind") -> Layer:
    """The registry layer of a resource kind, or 400 listing the kinds."""
    kinds = resource_layers()
    if not isinstance(kind, str) or kind not in kinds:
        raise InvalidInput(input_name, ", ".join(kinds), value=kind, details={"allowed_kinds": list(kinds)})
    return default_registry().get(kinds[kind])


def parse_kinds(value: str | None, input_name: str = "kinds") -> list[str]:
    """``"rescue_team,fire_station"`` → list; empty means every kind; unknown kinds → 400 listing the allowed."""
    known = resource_layers()
    if value is None or not value.strip():
        return list(known)
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in known]
    if unknown:
        allowed = ", ".join(known)
        raise InvalidInput(input_name, allowed, value=",".join(unknown),
                           message_en=f"unknown resource kind(s): {', '.join(unknown)}; allowed: {allowed}",
                           message_zh=f"未知的资源类型：{'、'.join(unknown)}；允许：{allowed}",
                           details={"unknown": unknown, "allowed_kinds": list(known)})
    return list(dict.fromkeys(kinds))


def _allowed(f: Field) -> str:
    if f.enum:
        return "one of " + ", ".join(map(str, f.enum))
    parts = {"string": f"text of at most {f.length} characters", "text": "text", "integer": "an integer",
             "bigint": "an integer", "float": "a finite number", "boolean": "true or false",
             "date": "a date (YYYY-MM-DD)", "datetime": "an ISO 8601 date-time with time zone"}
    text = parts.get(f.type, f.type)
    if f.min is not None and f.max is not None:
        text += f" between {f.min:g} and {f.max:g}"
    elif f.min is not None:
        text += f" ≥ {f.min:g}"
    elif f.max is not None:
        text += f" ≤ {f.max:g}"
    return text


def _bad(f: Field, value: Any, reason: str) -> InvalidInput:
    shown = value if isinstance(value, (int, float, str, bool)) else repr(value)
    return InvalidInput(f.name, _allowed(f), value=shown, details={"reason": reason, "label": f.label})


def _coerce(f: Field, value: Any) -> Any:
    """Text (CSV) or an Excel cell → the field's Python type; ValueError when it cannot be."""
    if isinstance(value, str):
        value = value.strip()
        if f.type in ("integer", "bigint"):
            number = float(value)
            if not number.is_integer():
                raise ValueError("not an integer")
            return int(number)
        if f.type == "float":
            return float(value)
        if f.type == "boolean":
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            raise ValueError("not a boolean")
        if f.type == "date":
            return date.fromisoformat(value)
        return value
    if isinstance(value, float) and f.type in ("integer", "bigint") and value.is_integer():
        return int(value)  # Excel stores every number as a float
    if isinstance(value, datetime) and f.type == "date":
        return value.date()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and f.type in ("string", "text"):
        return str(int(value)) if float(value).is_integer() else str(value)  # phone numbers typed as numbers
    return value


def check_value(f: Field, value: Any, *, coerce: bool = False) -> Any:
    """The validated value of one field (``None`` for an empty optional one)."""
    if coerce and value is not None:
        try:
            value = _coerce(f, value)
        except ValueError as exc:
            raise _bad(f, value, str(exc) or "cannot be read as " + f.type) from None
    if value is None or value == "":
        if f.required:
            raise _bad(f, value, "required")
        return None
    kind = f.type
    if kind in ("string", "text"):
        if not isinstance(value, str):
            raise _bad(f, value, "not text")
        if f.length is not None and len(value) > f.length:
            raise _bad(f, value, f"longer than {f.length} characters")
    elif kind in ("integer", "bigint"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(f, value, "not an integer")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _bad(f, value, "not a finite number")
        value = float(value)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _bad(f, value, "not a boolean")
    elif kind == "date":
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise _bad(f, value, "not a date") from None
        if not isinstance(value, date):
            raise _bad(f, value, "not a date")
    if f.enum and value not in f.enum:
        raise _bad(f, value, "not an allowed value")
    if f.min is not None and value < f.min:
        raise _bad(f, value, "too small")
    if f.max is not None and value > f.max:
        raise _bad(f, value, "too large")
    return value


def check_attributes(layer: Layer, data: dict[str, Any], *, partial: bool, coerce: bool = False,
                     extra: tuple[str, ...] = LOCATION_KEYS) -> dict[str, Any]:
    """Validated attribute values from ``data`` (keys other than fields and ``extra`` are refused).

    ``partial`` (an update) checks only the fields given; otherwise every required field must be present —
    except ``district_code``, which the service derives from the location when it is missing.
    """
    allowed = set(layer.field_names) | set(extra)
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise InvalidInput(unknown[0], "one of " + ", ".join(layer.field_names + list(extra)), value=unknown[0],
                           details={"reason": "unknown field", "unknown": unknown})
    out: dict[str, Any] = {}
    for f in layer.fields:
        if f.name in data:
            out[f.name] = check_value(f, data[f.name], coerce=coerce)
        elif not partial and f.required and f.name != "district_code":
            raise _bad(f, None, "required")
    return out
