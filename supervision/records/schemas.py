"""What a record is made of, and the checks on what people type into one (no Flask, no database).

The attributes and their rules (type, length, enum, range) come from the layer registry (``enterprises``,
``hazard_sources``); this module adds what the registry cannot say: which fields a person may write, which ones the
service derives (district, grid cell, park from the location; grade, S and R from the inventory), the USCC check
characters (GB 32100) and the industry code (GB/T 4754). The same checks serve the JSON API (values arrive typed)
and the importer (``coerce=True``: CSV text and Excel cells). Every problem names the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import InvalidInput
from core.uscc import uscc_problem
from layers.registry import Field, Layer, default_registry
from supervision.records.industry import check_industry_code

LOCATION_KEYS = ("lon", "lat", "crs")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


@dataclass(frozen=True)
class Kind:
    """One kind of record: its layer, key, the fields a person writes and the ones the service derives."""

    name: str                       # "enterprise" (history, URLs use the plural)
    layer_id: str
    key: str                        # the identifying field, never changed after creation
    writable: tuple[str, ...]       # fields a create or an edit may carry (besides the key and the location)
    derived: tuple[str, ...]        # fields the service fills in (refused with a reason when sent)
    label_zh: str
    label_en: str

    @property
    def layer(self) -> Layer:
        return default_registry().get(self.layer_id)


ENTERPRISE = Kind(
    "enterprise", "enterprises", "uscc",
    writable=("name", "industry_code", "sector", "employees", "address", "legal_representative", "phone",
              "risk_colour", "district_code"),
    derived=("grid_cell_code", "park_code", "status", "updated_at"),
    label_zh="企业", label_en="enterprise")
HAZARD_SOURCE = Kind(
    "hazard_source", "hazard_sources", "code",
    writable=("name", "enterprise_uscc", "exposed_population", "district_code", "chemicals"),
    derived=("grade", "s_value", "r_value", "status", "updated_at"),
    label_zh="重大危险源", label_en="hazard source")
KINDS = {k.name: k for k in (ENTERPRISE, HAZARD_SOURCE)}
DERIVED_WHY = {
    "grid_cell_code": "derived from the location", "park_code": "derived from the location",
    "status": "changed by deactivate / reactivate", "updated_at": "set by the service",
    "grade": "graded by GB 18218 from the chemicals", "s_value": "computed by GB 18218 from the chemicals",
    "r_value": "computed by GB 18218 from the chemicals",
}
_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}


def check_uscc(value: object, input_name: str = "uscc") -> str:
    """A USCC exactly as GB 32100 writes it (upper case, no blanks); 400 saying what is wrong."""
    code = value.strip().upper() if isinstance(value, str) else value
    problem = uscc_problem(code)
    if problem is not None:
        raise InvalidInput(input_name, "an 18-character unified social credit code (GB 32100-2015) with valid "
                           "check characters", value=value, details={"reason": problem})
    return code  # type: ignore[return-value]


def check_code(value: object, input_name: str = "code") -> str:
    if not isinstance(value, str) or not CODE_PATTERN.match(value.strip()):
        raise InvalidInput(input_name, "1–20 letters, digits, '-' or '_' (e.g. HS-329902-0001)", value=value)
    return value.strip()


def check_key(kind: Kind, value: object) -> str:
    return check_uscc(value) if kind is ENTERPRISE else check_code(value)


def _allowed(f: Field) -> str:
    if f.enum:
        return "one of " + ", ".join(map(str, f.enum))
    parts = {"string": f"text of at most {f.length} characters", "integer": "an integer", "float": "a finite number"}
    text = parts.get(f.type, f.type)
    if f.min is not None:
        text += f" ≥ {f.min:g}"
    if f.max is not None:
        text += f" ≤ {f.max:g}"
    return text


def _bad(f: Field, value: Any, reason: str) -> InvalidInput:
    shown = value if isinstance(value, (int, float, str, bool)) or value is None else repr(value)
    return InvalidInput(f.name, _allowed(f), value=shown, details={"reason": reason, "label": f.label})


def _coerce(f: Field, value: Any) -> Any:
    """CSV text or an Excel cell → the field's Python type (ValueError when it cannot be)."""
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
        if f.type in ("integer", "bigint"):
            number = float(value)
            if not number.is_integer():
                raise ValueError("not an integer")
            return int(number)
        if f.type == "float":
            return float(value)
        if f.type == "boolean":
            if value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
            raise ValueError("not a boolean")
        return value
    if isinstance(value, float) and f.type in ("integer", "bigint") and value.is_integer():
        return int(value)  # Excel stores every number as a float
    if isinstance(value, (int, float)) and not isinstance(value, bool) and f.type in ("string", "text"):
        return str(int(value)) if float(value).is_integer() else str(value)  # phone numbers typed as numbers
    if isinstance(value, datetime) and f.type in ("string", "text"):
        raise ValueError("a date, not text")
    return value


def check_value(f: Field, value: Any, *, coerce: bool = False) -> Any:
    """The validated value of one registry field (``None`` for an empty optional one)."""
    if coerce and value is not None:
        try:
            value = _coerce(f, value)
        except ValueError as exc:
            raise _bad(f, value, str(exc) or "cannot be read as " + f.type) from None
    if value is None or value == "":
        if f.required:
            raise _bad(f, value, "required")
        return None
    if f.type in ("string", "text"):
        if not isinstance(value, str):
            raise _bad(f, value, "not text")
        value = value.strip()
        if f.length is not None and len(value) > f.length:
            raise _bad(f, value, f"longer than {f.length} characters")
    elif f.type in ("integer", "bigint"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(f, value, "not an integer")
    elif f.type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _bad(f, value, "not a finite number")
        value = float(value)
    if f.enum and value not in f.enum:
        raise _bad(f, value, "not an allowed value")
    if f.min is not None and value < f.min:
        raise _bad(f, value, "too small")
    if f.max is not None and value > f.max:
        raise _bad(f, value, "too large")
    return value


def check_fields(kind: Kind, data: Mapping[str, Any], *, partial: bool, coerce: bool = False) -> dict[str, Any]:
    """The validated writable values in ``data`` (the key, ``version`` and the location are the caller's).

    A derived field is refused with the reason; an unknown one too. ``partial`` (an edit) checks only what is
    given; a create needs every required field but the district, which comes from the location.
    """
    layer = kind.layer
    allowed = {kind.key, "version", *kind.writable, *LOCATION_KEYS}
    for name in data:
        if name in kind.derived:
            raise InvalidInput(name, f"not writable: {DERIVED_WHY[name]}", value=name,
                               details={"reason": "derived field"})
        if name not in allowed:
            raise InvalidInput(name, "one of " + ", ".join(sorted(allowed)), value=name,
                               details={"reason": "unknown field"})
    out: dict[str, Any] = {}
    for name in kind.writable:
        if name == "chemicals":
            continue
        f = layer.field(name)
        if name in data:
            out[name] = check_value(f, data[name], coerce=coerce)
        elif not partial and f.required and name != "district_code":
            raise _bad(f, None, "required")
    if out.get("industry_code") is not None:
        out["industry_code"] = check_industry_code(out["industry_code"])
    if out.get("enterprise_uscc") is not None:
        out["enterprise_uscc"] = check_uscc(out["enterprise_uscc"], "enterprise_uscc")
    if "chemicals" in kind.writable and ("chemicals" in data or not partial):
        out["chemicals"] = check_chemicals(data.get("chemicals"))
    return out


def check_chemicals(value: Any) -> list[dict[str, Any]]:
    """The inventory as the GB 18218 library takes it: a non-empty list of {cas | name | table1_no | category,
    quantity_t}. The library checks each line (and names ``chemicals[i].<key>``); this only checks the list."""
    if not isinstance(value, list) or not value or not all(isinstance(c, Mapping) for c in value):
        raise InvalidInput("chemicals", "a non-empty list of {cas or name, quantity_t} (tonnes)",
                           value=type(value).__name__ if value is not None else None,
                           details={"reason": "required" if value is None else "not a list of objects"})
    return [dict(c) for c in value]


def check_version(data: Mapping[str, Any], *, coerce: bool = False) -> int:
    """The record version an edit is based on (required: a blind overwrite is refused)."""
    value = data.get("version")
    if coerce and isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("version", "the record's version as read (an integer ≥ 0), to detect concurrent edits",
                           value=value, details={"reason": "required" if value is None else "not an integer ≥ 0"})
    return value


__all__ = ["ENTERPRISE", "HAZARD_SOURCE", "KINDS", "LOCATION_KEYS", "Kind", "check_chemicals", "check_code",
           "check_fields", "check_key", "check_uscc", "check_value", "check_version"]
