"""Response helpers shared by the modules' views."""

from __future__ import annotations

from flask import Response


def private(response: Response) -> Response:
    """``Cache-Control: no-store, private``: for answers that differ per caller (their scope) or change at any
    moment (figures, readings, certificates): never from a shared cache, never kept."""
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response


__all__ = ["private"]
