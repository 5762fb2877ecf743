"""Import enterprise or hazard-source records from CSV or Excel (.xlsx): all rows or none.

* Columns are named by field name, Chinese label or English label of the layer (``uscc``/``统一社会信用代码``/
  ``USCC``), plus ``lon``/``lat`` (aliases ``lng``, ``longitude``, ``x``, ``经度`` / ``latitude``, ``y``, ``纬度``)
  in the CRS the caller declares (``crs=cgcs2000|wgs84|gcj02|bd09|EPSG:nnnn``), converted explicitly. Hazard
  sources carry their inventory in a ``chemicals`` column (``危险化学品``): ``CAS or name:tonnes`` separated by ``;``
  (``7664-41-7:50;液氯:20``); they are graded by GB 18218 as they go in.
* Every row goes through the same service function as a single create (``service.create_in``): the same checks
  (USCC check characters, GB/T 4754, district from the point, inside the city, write scope) and one history entry
  per record (source ``import``).
* Rows are numbered as a spreadsheet shows them: the header is row 1. Blank rows are skipped. Every problem is
  reported — row, column, value and reason — and nothing is written unless every row is good (one transaction);
  the answer is a 422 listing them. A dry run checks exactly the same and writes nothing.
* CSV may be UTF-8 (with or without BOM) or GB 18030, as Excel on Chinese Windows saves it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import tabular
from core.errors import DomainError, InvalidInput
from supervision.records import history, service
from supervision.records.schemas import HAZARD_SOURCE, Kind

MAX_ROWS = 5_000
MAX_BYTES = 10 * 1024 * 1024
MAX_REPORTED = 500
ALIASES = {"lon": ("lon", "lng", "longitude", "x", "经度"), "lat": ("lat", "latitude", "y", "纬度"),
           "chemicals": ("chemicals", "危险化学品", "chemical inventory")}
_CAS = re.compile(r"^\d{2,7}-\d{2}-\d$")


class ImportRejected(DomainError):
    http_status = 422
    code = "import_rejected"


class _DryRun(Exception):
    """Raised inside the transaction of a dry run so that it rolls back."""


def _problem(row: int, column: str, reason: str, reason_zh: str | None = None, value: Any = None) -> dict[str, Any]:
    shown = value if value is None or isinstance(value, (int, float, str, bool)) else str(value)
    return {"row": row, "column": column, "reason": reason, "reason_zh": reason_zh or reason, "value": shown}


def _reject(problems: list[dict[str, Any]], rows: int) -> ImportRejected:
    first = problems[0]
    return ImportRejected(
        f"import rejected, nothing was written: {len(problems)} problem(s), the first in row {first['row']}, "
        f"column {first['column']!r}: {first['reason']}",
        f"导入被拒绝，未写入任何数据：共 {len(problems)} 处问题，第一处在第 {first['row']} 行“{first['column']}”列："
        f"{first['reason_zh']}",
        details={"problems": problems[:MAX_REPORTED], "problem_count": len(problems), "rows": rows, "imported": 0})


def _header(kind: Kind, cells: list[Any]) -> tuple[dict[int, str], dict[str, str], list[dict[str, Any]]]:
    """Column index → field, field → the title the file used, and the header's problems."""
    names: dict[str, str] = {}
    for f in kind.layer.fields:
        if f.name in (kind.key, *kind.writable):
            for alias in (f.name, f.label, f.label_en):
                names[alias.strip().lower()] = f.name
    for target, aliases in ALIASES.items():
        if target != "chemicals" or kind is HAZARD_SOURCE:
            names.update({a.lower(): target for a in aliases})
    mapping: dict[int, str] = {}
    titles: dict[str, str] = {}
    problems = []
    for i, cell in enumerate(cells):
        title = "" if cell is None else str(cell).strip()
        if not title:
            continue
        target = names.get(title.lower())
        if target is None:
            problems.append(_problem(1, title, f"unknown column; expected a field of {kind.layer_id}, lon or lat",
                                     f"未知的列；应为{kind.label_zh}的字段、经度或纬度", title))
        elif target in titles:
            problems.append(_problem(1, title, f"column for {target!r} given twice", f"“{target}”列重复", title))
        else:
            mapping[i], titles[target] = target, title
    required = [kind.key, "lon", "lat"] + [f.name for f in kind.layer.fields if f.required
                                           and f.name in kind.writable and f.name != "district_code"]
    if kind is HAZARD_SOURCE:
        required.append("chemicals")
    problems += [_problem(1, need, "missing required column", "缺少必填列") for need in required if need not in titles]
    return mapping, titles, problems


def parse_chemicals(text: Any) -> list[dict[str, Any]]:
    """``"7664-41-7:50;液氯:20"`` → the library's input lines (ValueError saying which part is wrong)."""
    if text is None or str(text).strip() == "":
        raise ValueError("required: CAS or name:tonnes, separated by ';'")
    out = []
    for i, part in enumerate(p for p in re.split(r"[;；]", str(text)) if p.strip()):
        name, sep, quantity = part.strip().rpartition(":") if ":" in part else part.strip().rpartition("：")
        if not sep or not name.strip():
            raise ValueError(f"item {i + 1} ({part.strip()!r}) is not 'CAS or name:tonnes'")
        try:
            q = float(quantity.strip())
        except ValueError:
            raise ValueError(f"item {i + 1}: quantity {quantity.strip()!r} is not a number") from None
        key = "cas" if _CAS.match(name.strip()) else "name"
        out.append({key: name.strip(), "quantity_t": q})
    return out


def _row_data(mapping: dict[int, str], cells: list[Any], crs: str) -> dict[str, Any]:
    data: dict[str, Any] = {"crs": crs}
    for i, field in mapping.items():
        value = cells[i] if i < len(cells) else None
        if isinstance(value, str):
            value = value.strip()
        if value in (None, "") and field not in ("lon", "lat", "chemicals"):
            continue
        data[field] = value
    return data


def import_records(conn: Connection, kind: Kind, filename: str, content: bytes, crs: str, *,
                   access: LayerAccess, actor: str, dry_run: bool = False) -> dict[str, Any]:
    """Import every record of the file or none; ``{"imported", "rows", "keys", "dry_run"}``."""
    if len(content) > MAX_BYTES:
        raise InvalidInput("file", f"at most {MAX_BYTES // (1024 * 1024)} MiB", value=len(content),
                           details={"reason": "too large"})
    rows = iter(tabular.rows(filename, content))
    first = next(rows, None)
    if first is None:
        raise InvalidInput("file", "a header row and at least one record", details={"reason": "empty file"})
    mapping, titles, problems = _header(kind, first[1])
    if problems:
        raise _reject(problems, 0)
    keys: list[str] = []
    count = 0
    try:
        with history.unit_of_work(conn) as changes:
            for number, cells in rows:
                if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                    continue
                count += 1
                if count > MAX_ROWS:
                    raise InvalidInput("file", f"at most {MAX_ROWS} records", details={"reason": "too many rows"})
                data = _row_data(mapping, cells, crs)
                try:
                    if kind is HAZARD_SOURCE:
                        try:
                            data["chemicals"] = parse_chemicals(data.get("chemicals"))
                        except ValueError as exc:
                            raise InvalidInput("chemicals", "CAS or name:tonnes, separated by ';'",
                                               value=data.get("chemicals"), details={"reason": str(exc)}) from None
                    with conn.begin_nested():
                        keys.append(service.create_in(conn, changes, kind, data, access=access, actor=actor,
                                                      source="import", coerce=True))
                except DomainError as err:
                    field = str(err.details.get("input") or "")
                    field = "chemicals" if field.startswith("chemicals") else field
                    problems.append(_problem(number, titles.get(field, field or "-"), err.message_en, err.message_zh,
                                             err.details.get("value")))
            if problems:
                raise _reject(problems, count)
            if count == 0:
                raise InvalidInput("file", "a header row and at least one record", details={"reason": "no records"})
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return {"dry_run": dry_run, "rows": count, "imported": 0 if dry_run else len(keys), "keys": keys}


__all__ = ["ImportRejected", "import_records", "parse_chemicals"]
