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

import datetime as dt
import decimal
import json
import math
import re
from typing import Any

from core.errors import InvalidInput

MAX_DEPTH = 32             # GeoJSON multipolygons in a feature collection need 7; no OneMap body needs more than 10
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
MAX_JSON_BODY = 16 << 20   # the middleware buffers JSON bodies up to this size to check them

JSON_TYPES = ("application/json", "text/json")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LEAF = re.compile(r"\[\]|\{\}")


class BadJSON(InvalidInput):
    """A request body that is not acceptable JSON (HTTP 400, ``code`` = ``invalid_json``); ``reason`` says why and
    ``input`` names the value (``location.lon``, ``items[2].quantity``; ``body`` for the document as a whole)."""

    code = "invalid_json"

    def __init__(self, reason: str, en: str, zh: str, *, where: str = "body", **details: Any) -> None:
        super().__init__(where, "a JSON document (RFC 8259) nested at most "
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


def loads(data: bytes | str) -> Any:
    """Parse a request body, or raise :class:`BadJSON` naming what is wrong and where (see the module docstring)."""
    text = decode(data)
    if too_deep(text):
        raise BadJSON("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels is not accepted",
                      f"JSON 嵌套层数超过 {MAX_DEPTH} 层，拒绝处理", max_depth=MAX_DEPTH)
    try:
        # NaN, Infinity and 1e400 parse to floats here, so that the walk below can say which value they were
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadJSON("syntax", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                      f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）：{exc.msg}",
                      line=exc.lineno, column=exc.colno) from None
    except ValueError:  # an integer of thousands of digits: Python refuses to read it at all
        raise BadJSON("integer_overflow", "an integer is outside the signed 64-bit range",
                      "整数超出 64 位有符号整数范围") from None
    except RecursionError:  # not reachable after too_deep(); kept so that no path can turn into a 500
        raise BadJSON("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels is not accepted",
                      f"JSON 嵌套层数超过 {MAX_DEPTH} 层，拒绝处理", max_depth=MAX_DEPTH) from None
    _check_values(value)
    return value


def _check_values(document: Any) -> None:
    """Every value storable: finite numbers, 64-bit integers, no NUL in strings or keys (walked, not recursed)."""
    stack: list[tuple[Any, str]] = [(document, "body")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                shown = key.replace("\x00", "\\u0000")  # a name fit to be shown and logged
                name = shown if where == "body" else f"{where}.{shown}"
                if "\x00" in key:
                    raise _nul(name)
                stack.append((value, name))
        elif isinstance(node, list):
            stack.extend((value, f"{where}[{i}]") for i, value in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise BadJSON("not finite", f"'{where}' must be a finite number (NaN, Infinity and numbers beyond "
                          "the double range are not)", f"'{where}' 必须是有限数值", where=where)
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            raise BadJSON("integer_overflow", f"'{where}' is outside the signed 64-bit integer range",
                          f"'{where}' 超出 64 位有符号整数范围", where=where)
        elif isinstance(node, str) and "\x00" in node:
            raise _nul(where)


def _nul(where: str) -> BadJSON:
    return BadJSON("nul_character", f"'{where}' contains the NUL character (\\u0000), which cannot be stored",
                   f"'{where}' 含有 NUL 字符（\\u0000），无法保存", where=where)




def json_value(value: Any) -> Any:
    """A database value as JSON can carry it: dates as ISO 8601, decimals as numbers, NaN/infinity as null."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["BadJSON", "MAX_DEPTH", "MAX_JSON_BODY", "is_json_type", "json_value", "loads", "too_deep"]
