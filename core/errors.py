"""The one error hierarchy of OneMap.

Every business rule violation is a :class:`DomainError`; the application factory installs one
handler that renders :meth:`DomainError.to_problem` as ``application/problem+json`` (RFC 7807).
Library code (no Flask) raises these too, so the same message reaches the API, the CLI and tests.
"""

from __future__ import annotations

import math
from typing import Any

PROBLEM_TYPE_BASE = "https://onemap.example/problems/"
LANGUAGES = ("zh-CN", "zh", "en")  # what messages are written in; the first is the default


def preferred_language(accept_language: str | None) -> str:
    """``"zh-CN"`` or ``"en"`` for an ``Accept-Language`` header, quality weights honoured (``en;q=0`` is not
    English); any other or malformed preference gets the default, Chinese — the rule of every Flask route."""
    from werkzeug.datastructures import LanguageAccept
    from werkzeug.http import parse_accept_header

    best = parse_accept_header(accept_language or "", LanguageAccept).best_match(LANGUAGES)
    return "en" if best == "en" else "zh-CN"


class DomainError(Exception):
    """A failure the user can act on, with a zh-CN and an English message."""

    http_status: int = 500
    code: str = "domain_error"

    def __init__(
        self,
        message_en: str,
        message_zh: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        http_status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        # Falling back to the English text keeps a missing translation visible instead of blank.
        self.message_zh = message_zh if message_zh is not None else message_en
        self.details: dict[str, Any] = dict(details) if details else {}
        if http_status is not None:
            self.http_status = http_status
        if code is not None:
            self.code = code

    def message(self, lang: str = "zh") -> str:
        """The message in ``lang`` ("zh…" → Chinese, anything else → English)."""
        return self.message_zh if lang.lower().startswith("zh") else self.message_en

    def to_problem(self, lang: str = "en") -> dict[str, Any]:
        """RFC 7807 problem details; ``details`` are extension members and never override the core ones."""
        problem: dict[str, Any] = dict(self.details)
        problem.update(
            {
                "type": PROBLEM_TYPE_BASE + self.code,
                "title": self.code.replace("_", " "),
                "status": self.http_status,
                "detail": self.message(lang),
                "code": self.code,
            }
        )
        return problem

    def __str__(self) -> str:
        return self.message_en


class InvalidInput(DomainError):
    """An input is missing, malformed or outside its allowed range (HTTP 400).

    ``details`` always carries ``input`` (the input's name) and ``allowed`` (a human-readable
    range or set of values), so clients can point at the offending field.
    """

    http_status = 400
    code = "invalid_input"

    def __init__(
        self,
        input_name: str,
        allowed: str,
        message_en: str | None = None,
        message_zh: str | None = None,
        *,
        value: Any = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged: dict[str, Any] = {"input": input_name, "allowed": allowed}
        if value is not None:
            merged["value"] = value if isinstance(value, (int, float, str, bool)) else repr(value)
        if details:
            merged.update(details)
        got = "" if value is None else f": got {value!r}"
        got_zh = "" if value is None else f"：{value!r}"
        en = message_en or f"invalid input '{input_name}'{got}; allowed: {allowed}"
        zh = message_zh or f"输入参数 '{input_name}' 无效{got_zh}；允许范围：{allowed}"
        super().__init__(en, zh, details=merged)
        self.input_name = input_name
        self.allowed = allowed


class NotFound(DomainError):
    """The addressed object does not exist (or the caller may not know that it does)."""

    http_status = 404
    code = "not_found"


class Conflict(DomainError):
    """The request contradicts the object's current state, e.g. an invalid workflow transition (HTTP 409)."""

    http_status = 409
    code = "conflict"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def range_text(
    name: str,
    minimum: float | None,
    maximum: float | None,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
    unit: str,
) -> str:
    """Human-readable range such as ``0 < wind_speed_m_s ≤ 30 m/s``."""
    lo = "" if minimum is None else f"{_fmt(minimum)} {'<' if exclusive_minimum else '≤'} "
    hi = "" if maximum is None else f" {'<' if exclusive_maximum else '≤'} {_fmt(maximum)}"
    text = f"{lo}{name}{hi}" if (lo or hi) else f"{name}: any finite number"
    return f"{text} {unit}" if unit else text


def require_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
    unit: str = "",
) -> float:
    """Return ``value`` as a float, or raise :class:`InvalidInput` naming ``name`` and its range.

    Booleans and strings are refused even though Python would coerce them: JSON clients that send
    ``"5"`` or ``true`` have a bug we want them to see, not a silently guessed number.
    """
    allowed = range_text(name, minimum, maximum, exclusive_minimum, exclusive_maximum, unit)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(name, allowed, value=value, details={"reason": "not a number"})
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(name, allowed, value=str(number), details={"reason": "not finite"})
    too_low = minimum is not None and (number <= minimum if exclusive_minimum else number < minimum)
    too_high = maximum is not None and (number >= maximum if exclusive_maximum else number > maximum)
    if too_low or too_high:
        raise InvalidInput(name, allowed, value=number, details={"reason": "out of range"})
    return number
