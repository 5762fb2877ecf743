"""Rows of an uploaded table (.csv or .xlsx) for the importers: one reader, whatever module imports.

CSV is read as UTF-8 (with or without BOM) or, failing that, GB 18030 (what Excel on a Chinese Windows writes);
a workbook's first sheet is read with openpyxl. A file that is neither is a 400 naming ``file``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from core.errors import InvalidInput


def rows(filename: str, content: bytes) -> Iterator[tuple[int, list[Any]]]:
    """(row number from 1, cells) of every row, header included."""
    name = (filename or "").lower()
    if content[:4] == b"PK\x03\x04" or name.endswith((".xlsx", ".xlsm")):
        yield from _xlsx(content)
    elif name.endswith((".csv", ".txt")) or not name:
        yield from _csv(content)
    else:
        raise InvalidInput("file", "a .csv or .xlsx file", value=filename, details={"reason": "unsupported format"})


def _csv(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            decoded = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput("file", "UTF-8 or GB 18030 text", details={"reason": "not text"})
    try:
        yield from enumerate(csv.reader(io.StringIO(decoded, newline="")), start=1)
    except csv.Error as exc:
        raise InvalidInput("file", "well-formed CSV", details={"reason": str(exc)}) from None


def _xlsx(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook  # imported on use: only importers need it

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise InvalidInput("file", "a readable .xlsx workbook", details={"reason": type(exc).__name__}) from None
    try:
        for i, cells in enumerate(workbook.worksheets[0].iter_rows(values_only=True), start=1):
            yield i, list(cells)
    finally:
        workbook.close()


__all__ = ["rows"]
