"""The one reader of JSON request bodies: every route, the authentication middleware and the OGC API mount use it.

Python's ``json`` module recurses once per nesting level (a body of 100 000 ``[`` raises RecursionError, a 500),
accepts ``NaN`` and ``Infinity`` (not JSON), turns ``1e400`` into ``inf`` and reads integers of any size. PostgreSQL
then refuses NUL characters in text and integers beyond 64 bits — again a 500, after the handler started working.
So a body is checked before anyone uses it, and every refusal names what was wrong and where:

* nesting deeper than :data:`MAX_DEPTH` levels (checked on the text, without recursion, before parsing);
* ``NaN``, ``Infinity``, numbers that overflow a double, integers outside the signed 64-bit range;
* NUL (``\\u0000``) anywhere in a string or a key;
* bytes that are not UTF-8 (RFC 8259 §8.1), and JSON syntax errors.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from app.errors import InvalidInput

MAX_DEPTH = 32             # GeoJSON multipolygons in a feature collection need 7; no OneMap body needs more than 10
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
MAX_JSON_BODY = 16 << 20   # the middleware buffers JSON bodies up to this size to check them

JSON_TYPES = ("application/json", "text/json")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LEAF = re.compile(r"\[\]|\{\}")
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000", re.I)


class BadJSON(InvalidInput):
    """A request body that is not acceptable JSON (HTTP 400, ``code`` = ``invalid_json``); ``reason`` says why."""

    code = "invalid_json"

    def __init__(self, reason: str, en: str, zh: str, **details: Any) -> None:
        super().__init__("body", "a JSON document (RFC 8259) nested at most "
                                 f"{MAX_DEPTH} levels, finite numbers, 64-bit integers, no NUL characters",
                         en, zh, details={"reason": reason, **details})
        self.reason = reason


def is_json_type(content_type: str | None) -> bool:
    """``application/json``, ``text/json`` or any ``…/…+json`` (GeoJSON, problem+json, …)."""
    mime = (content_type or "").split(";")[0].strip().lower()
    return mime in JSON_TYPES or mime.endswith("+json")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True if ``text`` nests arrays/objects deeper than ``limit`` — found without recursion or a parse.

    Strings are blanked out, then the innermost ``[]``/``{}`` pairs are removed level by level (one regex pass
    per level, at most ``limit`` passes): whatever is left after ``limit`` passes is deeper than ``limit``.
    Unbalanced text stops shrinking early and is left to the parser to report.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(limit):
        shorter = _LEAF.sub("", brackets)
        if not shorter or shorter == brackets:
            return False
        brackets = shorter
    return bool(brackets)


def has_nul(text: str) -> bool:
    """A NUL character, raw or as the escape ``\\u0000`` (an escaped backslash before ``u0000`` is not one)."""
    return "\x00" in text or _NUL_ESCAPE.search(text) is not None


def decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        # RFC 8259 §8.1: JSON between systems is UTF-8 (a byte order mark is tolerated); pygeoapi and most readers
        # decode nothing else, so UTF-16/32 are refused here rather than half-accepted by some routes
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadJSON("encoding", "the request body is not UTF-8 encoded JSON",
                      "请求体不是 UTF-8 编码的 JSON") from None


def structural_problem(text: str) -> BadJSON | None:
    """The checks that must run before any parser sees the text (depth, NUL); None if it passes them."""
    if too_deep(text):
        return BadJSON("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels is not accepted",
                       f"JSON 嵌套层数超过 {MAX_DEPTH} 层，拒绝处理", max_depth=MAX_DEPTH)
    if has_nul(text):
        return BadJSON("nul_character", "JSON strings may not contain the NUL character (\\u0000)",
                       "JSON 字符串中不允许出现 NUL 字符（\\u0000）")
    return None


def _constant(name: str) -> Any:
    raise BadJSON("not_finite", f"{name} is not a JSON number; send a finite number",
                  f"{name} 不是合法的 JSON 数值，请使用有限数值", value=name)


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise BadJSON("not_finite", f"the number {text[:40]} is too large for a double-precision float",
                      f"数值 {text[:40]} 超出双精度浮点数范围", value=text[:40])
    return number


def _int(text: str) -> int:
    # Checked on the digits first: int() of a 5000-digit string is refused by Python itself (ValueError).
    digits = text.lstrip("-")
    number = int(text) if len(digits) <= 19 else None
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise BadJSON("integer_overflow", f"the integer {text[:40]} is outside the signed 64-bit range",
                      f"整数 {text[:40]} 超出 64 位有符号整数范围", value=text[:40])
    return number


def loads(data: bytes | str) -> Any:
    """Parse a request body, or raise :class:`BadJSON` naming what is wrong (see the module docstring)."""
    text = decode(data)
    if (problem := structural_problem(text)) is not None:
        raise problem
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise BadJSON("syntax", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                      f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）：{exc.msg}",
                      line=exc.lineno, column=exc.colno) from None
    except RecursionError:  # not reachable after too_deep(); kept so that no path can turn into a 500
        raise BadJSON("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels is not accepted",
                      f"JSON 嵌套层数超过 {MAX_DEPTH} 层，拒绝处理", max_depth=MAX_DEPTH) from None


__all__ = ["BadJSON", "MAX_DEPTH", "MAX_JSON_BODY", "is_json_type", "loads", "structural_problem", "too_deep"]
