"""Reading request parameters (query strings and JSON bodies) into checked values — no Flask in here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import InvalidInput


def json_object(body: Any) -> dict[str, Any]:
    """The request body must be a JSON object."""
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object", value=type(body).__name__ if body is not None else "empty")
    return body


def int_arg(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(name, f"an integer {lo}..{hi}", value=value) from None
    if not lo <= number <= hi:
        raise InvalidInput(name, f"an integer {lo}..{hi}", value=number, details={"reason": "out of range"})
    return number


def bool_arg(args: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = args.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise InvalidInput(name, "true or false", value=value)


def float_arg(args: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(name, f"a number {lo:g}..{hi:g}", value=value) from None
    if not lo <= number <= hi:  # also false for NaN
        raise InvalidInput(name, f"a number {lo:g}..{hi:g}", value=str(number), details={"reason": "out of range"})
    return number


def require_arg(args: Mapping[str, str], name: str, allowed: str) -> str:
    value = args.get(name)
    if value is None or value == "":
        raise InvalidInput(name, allowed, details={"reason": "required"})
    return value
