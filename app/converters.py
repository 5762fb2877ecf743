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

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", INT32_MAX)
        super().__init__(map, *args, **kwargs)
