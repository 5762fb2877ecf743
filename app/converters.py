"""URL converters of the Flask app: what a path segment may be before a view sees it."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

INT32_MAX = (1 << 31) - 1


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in a path names a row, and every table's key is a 32-bit ``integer`` (identity from 1).

    Werkzeug's converter takes any number of digits, so ``/incidents/99999999999`` reached PostgreSQL and failed
    there ("integer out of range", a 500). Bounded here, a larger number matches no route: 404, like any id
    that does not exist. A route whose key is wider says so: ``<int(max=9223372036854775807):id>``.
    """

    # 0..2147483647 as a pattern: a wider number must not match the path at all. Refused only in to_python, it
    # would make werkzeug answer 405 where another rule of the same path takes a different method.
    regex = (r"0*(?:[0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
             r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])")

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", INT32_MAX)
        super().__init__(map, *args, **kwargs)
