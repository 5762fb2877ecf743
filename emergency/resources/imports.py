"""Import resources from CSV or Excel (.xlsx): all rows or none.

* Columns are named by field name, Chinese label or English label of the layer (e.g. ``name``/``队伍名称``/
  ``Name``), plus the coordinates ``lon``/``lat`` (aliases ``lng``, ``longitude``, ``x``, ``经度`` /
  ``latitude``, ``y``, ``纬度``) in the CRS declared by the caller (``crs=cgcs2000|wgs84|gcj02|bd09|EPSG:nnnn``),
  converted explicitly. The district is always derived from the location (point in the districts layer); a
  ``district_code`` column may be left out or empty, and a value that disagrees with the location is a problem.
* Rows are numbered as a spreadsheet shows them: the header is row 1, the first record row 2. Blank rows are
  skipped (and keep their number).
* Every problem is reported — row, column, value and reason — and nothing is written unless every row is good:
  the rows go in in one transaction. Points outside the city (in no district) are problems too.
* CSV may be UTF-8 (with or without BOM) or GB 18030/GBK, as saved by Excel on Chinese Windows.
* Every row must lie in the caller's write scope (a district regulator imports into their own district only),
  judged on the derived district; a row of another district is a problem of its district column (or of
  ``lon/lat`` when no district was given). A dry run checks exactly the same.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import tabular
from core.errors import DomainError, InvalidInput
from core.geo.points import districts_of, to_storage_many
from core.scope import Scope
from emergency.access import write_scope
from emergency.history import unit_of_work
from emergency.resources.schemas import check_value, resource_layer
from emergency.resources.service import announce, table_of
from layers.registry import Layer

MAX_ROWS = 10_000
MAX_BYTES = 10 * 1024 * 1024
MAX_REPORTED = 500  # problems listed in one answer; the count is always complete
CHUNK = 500  # rows per INSERT statement (one statement per chunk keeps the snap triggers set-based)
COORDINATE_ALIASES = {"lon": ("lon", "lng", "longitude", "x", "经度"), "lat": ("lat", "latitude", "y", "纬度")}


class ImportRejected(DomainError):
    http_status = 400
    code = "import_rejected"


def _problem(row: int, column: str, reason: str, value: Any = None) -> dict[str, Any]:
    shown = value if value is None or isinstance(value, (int, float, str, bool)) else str(value)
    if isinstance(shown, float) and not math.isfinite(shown):
        shown = str(shown)
    return {"row": row, "column": column, "reason": reason, "value": shown}


def _reject(problems: list[dict[str, Any]], rows: int) -> ImportRejected:
    first = problems[0]
    return ImportRejected(
        f"import rejected, nothing was written: {len(problems)} problem(s), the first in row {first['row']}, "
        f"column {first['column']!r}: {first['reason']}",
        f"导入被拒绝，未写入任何数据：共 {len(problems)} 处问题，第一处在第 {first['row']} 行“{first['column']}”列："
        f"{first['reason']}",
        details={"problems": problems[:MAX_REPORTED], "problem_count": len(problems), "rows": rows,
                 "imported": 0},
    )


def _columns(layer: Layer, header: list[Any]) -> tuple[dict[int, str], list[dict[str, Any]]]:
    """Column index → field name (or lon/lat), and the problems of the header row."""
    names: dict[str, str] = {}
    for f in layer.fields:
        for alias in (f.name, f.label, f.label_en):
            names[alias.strip().lower()] = f.name
    for target, aliases in COORDINATE_ALIASES.items():
        for alias in aliases:
            names[alias] = target
    mapping: dict[int, str] = {}
    problems = []
    for i, cell in enumerate(header):
        title = "" if cell is None else str(cell).strip()
        if not title:
            continue
        target = names.get(title.lower())
        if target is None:
            problems.append(_problem(1, title, "unknown column; expected a field name or label of "
                                     f"{layer.id}, lon or lat", title))
        elif target in mapping.values():
            problems.append(_problem(1, title, f"column for {target!r} given twice", title))
        else:
            mapping[i] = target
    present = set(mapping.values())
    for need in ("lon", "lat"):
        if need not in present:
            problems.append(_problem(1, need, "missing coordinate column"))
    for f in layer.fields:
        if f.required and f.name not in present and f.name != "district_code":
            problems.append(_problem(1, f.name, f"missing required column ({f.label})"))
    return mapping, problems


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    number = float(value.strip()) if isinstance(value, str) else float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def import_resources(conn: Connection, kind: str, filename: str, content: bytes, crs: str,
                     *, access: LayerAccess, dry_run: bool = False) -> dict[str, Any]:
    """Validate every row, then insert all of them in one transaction (or none); see the module docstring."""
    layer = resource_layer(kind)
    if len(content) > MAX_BYTES:
        raise InvalidInput("file", f"at most {MAX_BYTES // (1024 * 1024)} MiB", value=len(content))
    records = tabular.rows(filename, content)
    first = next(records, None)
    if first is None:
        raise InvalidInput("file", "a header row and at least one record", details={"reason": "empty file"})
    mapping, problems = _columns(layer, first[1])
    headers = {i: "" if first[1][i] is None else str(first[1][i]).strip() for i in mapping}
    district_header = next((headers[i] for i, target in mapping.items() if target == "district_code"), "lon/lat")
    fields = {f.name: f for f in layer.fields}
    rows: list[tuple[int, dict[str, Any], tuple[float, float] | None]] = []
    for number, cells in records:
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            raise InvalidInput("file", f"at most {MAX_ROWS} records", details={"reason": "too many rows"})
        values: dict[str, Any] = {}
        xy: list[float] = []
        for i, target in mapping.items():
            cell = cells[i] if i < len(cells) else None
            if target in ("lon", "lat"):
                try:
                    xy.append(_number(cell))
                except (TypeError, ValueError):
                    problems.append(_problem(number, headers[i], "not a finite number", cell))
                continue
            if target == "district_code" and (cell is None or (isinstance(cell, str) and not cell.strip())):
                continue  # an empty district cell means "derive it from the location", like a missing column
            try:
                values[target] = check_value(fields[target], cell, coerce=True)
            except InvalidInput as exc:
                problems.append(_problem(number, headers[i], exc.details.get("reason", "invalid") + "; allowed: "
                                         + exc.allowed, cell))
        rows.append((number, values, (xy[0], xy[1]) if len(xy) == 2 else None))
    if not rows and not problems:
        raise InvalidInput("file", "a header row and at least one record", details={"reason": "no records"})
    table = table_of(layer)
    ids: list[int] = []
    with unit_of_work(conn) as changes:  # the district lookups and the inserts see one state of the database
        given = {n for n, values, _ in rows if values.get("district_code") is not None}
        problems.extend(_locate(conn, rows, crs))
        problems.extend(_outside_scope(access, layer.id, rows, write_scope(access), given, district_header))
        if problems:
            problems.sort(key=lambda p: p["row"])
            raise _reject(problems, len(rows))
        if dry_run:
            return {"kind": kind, "rows": len(rows), "imported": 0, "dry_run": True, "ids": []}
        for start in range(0, len(rows), CHUNK):
            chunk = [values for _, values, _ in rows[start:start + CHUNK]]
            ids.extend(conn.execute(table.insert().values(chunk).returning(table.c.id)).scalars().all())
        by_district: dict[str | None, list[int]] = {}
        for (_, values, _), new_id in zip(rows, ids, strict=True):  # a multi-row INSERT … RETURNING keeps the order
            by_district.setdefault(values.get("district_code"), []).append(new_id)
        for district, district_ids in by_district.items():  # one event per district, each to its own viewers
            announce(changes, kind, "imported", district_ids, district)
    return {"kind": kind, "rows": len(rows), "imported": len(ids), "dry_run": False, "ids": ids}


def _outside_scope(access: LayerAccess, layer_id: str, rows: list, scope: Scope, given: set[int],
                   district_header: str) -> list[dict[str, Any]]:
    """Rows whose district lies outside the caller's write scope (a row without a district has other problems)."""
    problems = []
    for n, values, _ in rows:
        district = values.get("district_code")
        if district is None or access.admits(layer_id, district_code=district, scope=scope):
            continue
        problems.append(_problem(n, district_header if n in given else "lon/lat",
                                 f"district {district} is outside your data scope ({scope.describe()}): "
                                 "you may import only rows of your own district(s)", district))
    return problems


def _locate(conn: Connection, rows: list, crs: str) -> list[dict[str, Any]]:
    """Convert coordinates, derive missing districts, and report rows outside the city or in unknown districts."""
    placed = [(n, values, xy) for n, values, xy in rows if xy is not None]
    if not placed:
        return []
    problems = []
    xs, ys = np.array([p[2][0] for p in placed]), np.array([p[2][1] for p in placed])
    if not crs.startswith("EPSG:"):
        bad = (np.abs(xs) > 180) | (np.abs(ys) > 90)
        for (n, _, xy), is_bad in zip(placed, bad, strict=True):
            if is_bad:
                problems.append(_problem(n, "lon/lat", "outside −180..180 / −90..90 degrees", f"{xy[0]},{xy[1]}"))
        keep = ~bad
        placed, xs, ys = [p for p, k in zip(placed, keep, strict=True) if k], xs[keep], ys[keep]
    lon, lat = to_storage_many(xs, ys, crs)
    codes = districts_of(conn, list(lon), list(lat))
    known = set(conn.execute(text("SELECT code FROM districts")).scalars())
    for (n, values, xy), x, y, code in zip(placed, lon, lat, codes, strict=True):
        if not (math.isfinite(x) and math.isfinite(y)):
            problems.append(_problem(n, "lon/lat", f"not a valid point in {crs}", f"{xy[0]},{xy[1]}"))
            continue
        if code is None:
            problems.append(_problem(n, "lon/lat", f"outside the city: ({x:.6f}, {y:.6f}) CGCS2000 lies in no "
                                     "district", f"{xy[0]},{xy[1]}"))
            continue
        given = values.get("district_code")
        if given is not None and given != code:
            # refused, not overwritten: see emergency.resources.service.district_disagrees
            reason = "no such district" if given not in known else "disagrees with the location"
            problems.append(_problem(n, "district_code", f"{reason}: the location lies in district {code}; "
                                     "leave the column empty or give that district", given))
        values["district_code"] = code
        values["geom"] = f"SRID=4490;POINT({float(x)!r} {float(y)!r})"
    return problems
