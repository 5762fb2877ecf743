"""Enterprise and hazard-source records: read, create, edit, deactivate, reactivate (no Flask).

Data scope: reads follow the read scope of the record's layer (a record outside it does not exist for the caller:
404). Writes need the ``records`` module's write scope (policy.yaml: the city for city regulators, their district for
a district regulator) and the record must lie inside it before and after the change: moving a record out of the
district, or creating one in another district, is a 403 naming the district.

Every change runs in one transaction (``history.unit_of_work``): validation, the row, the history entry and the live
event stand or fall together. An edit names the ``version`` it was based on and is a 409 when the record has changed
since. Locations come with a declared CRS and are converted to CGCS2000 explicitly (core.geo.points); the district,
grid cell and park are derived from the point, and a district label that disagrees with the point is a 400 naming
both. Hazard sources are graded by GB 18218 on every save that touches their inventory or exposed population.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, RowMapping

from access.policy.rowscope import LayerAccess
from core import clock
from core.changes import Changes
from core.errors import Conflict, InvalidInput, NotFound
from core.geo.points import district_of, parse_crs, to_storage
from core.lifecycle import Lifecycle, frozen
from core.params import int_arg
from core.realtime import ScopeTag
from supervision.records import grading, history
from supervision.records.industry import describe
from supervision.records.schemas import (
    ENTERPRISE,
    HAZARD_SOURCE,
    Kind,
    check_fields,
    check_key,
    check_version,
)

MODULE = "records"
STATUS = Lifecycle("record", "active", frozen({"active": ("deactivated",), "deactivated": ("active",)}),
                   frozen({"active": "在册", "deactivated": "已注销"}))
MAX_PAGE, DEFAULT_PAGE = 1000, 100
_PLACES = {"grid_cell_code": "grid_cells", "park_code": "industrial_parks"}


# -- reading --------------------------------------------------------------------------------------------------------
def _columns(kind: Kind) -> str:
    return ", ".join(f't."{f.name}"' for f in kind.layer.fields) + ", ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat"


def not_found(kind: Kind, key: str) -> NotFound:
    return NotFound(f"no {kind.label_en} {key}", f"不存在{kind.label_zh} {key}", details={kind.key: key})


def _row(conn: Connection, kind: Kind, key: str, *, access: LayerAccess, lock: bool = False) -> RowMapping:
    """The record (404 when missing or outside the caller's read scope; the probe is noted for the audit)."""
    access.require(kind.layer_id)
    where, params = access.where(kind.layer_id, alias="t")
    row = conn.execute(text(
        f'SELECT {_columns(kind)} FROM "{kind.layer.table}" t WHERE t."{kind.key}" = :key AND {where}'
        + (" FOR UPDATE OF t" if lock else "")), {**params, "key": key}).mappings().first()
    if row is None:
        access.note_hidden(conn, kind.layer_id, key, id_field=kind.key, action="write" if lock else "read")
        raise not_found(kind, key)
    return row


def _chemicals(conn: Connection, code: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(
        "SELECT chemical_name, cas, quantity_t, critical_quantity_t FROM hazard_source_chemicals "
        "WHERE hazard_source_code = :c ORDER BY id"), {"c": code}).mappings()]


def present(conn: Connection, kind: Kind, row: Mapping[str, Any]) -> dict[str, Any]:
    """The record as the API returns it: its fields, location (CGCS2000), version and labels."""
    out = {f.name: history.jsonable(row[f.name]) for f in kind.layer.fields}
    out["lon"], out["lat"] = round(row["lon"], 7), round(row["lat"], 7)
    out["version"] = history.current_version(conn, kind, row[kind.key])
    out["status_label"] = kind.layer.field("status").label_of(row["status"], "zh-CN")
    if kind is ENTERPRISE:
        try:
            out["industry"] = describe(row["industry_code"])
        except (StopIteration, KeyError, ValueError):  # a code on record from before the check
            out["industry"] = None
    else:
        out["chemicals"] = _chemicals(conn, row["code"])
    return out


def get_record(conn: Connection, kind: Kind, key: str, *, access: LayerAccess) -> dict[str, Any]:
    return present(conn, kind, _row(conn, kind, check_key(kind, key), access=access))


def list_records(conn: Connection, kind: Kind, args: Mapping[str, str], *, access: LayerAccess) -> dict[str, Any]:
    """Filters: ``status``, ``district_code``, ``enterprise_uscc`` (hazard sources), ``q`` (name or key contains);
    ``limit`` 1..1000 (default 100), ``offset``. Only records in the caller's read scope are listed and counted."""
    access.require(kind.layer_id)
    where, params = access.where(kind.layer_id, alias="t")
    conditions = [where]
    filters = ("status", "district_code") + (("enterprise_uscc",) if kind is HAZARD_SOURCE else ())
    for name, value in args.items():
        if name in ("limit", "offset"):
            continue
        if name in filters:
            conditions.append(f't."{name}" = :f_{name}')
            params[f"f_{name}"] = value
        elif name == "q":
            conditions.append(f't.name ILIKE :q OR t."{kind.key}" ILIKE :q')
            params["q"] = "%" + value.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        else:
            raise InvalidInput(name, "limit, offset, q or " + ", ".join(filters), value=name,
                               details={"reason": "unknown parameter"})
    limit, offset = int_arg(args, "limit", DEFAULT_PAGE, 1, MAX_PAGE), int_arg(args, "offset", 0, 0, 10**9)
    sql = " AND ".join(f"({c})" for c in conditions)
    table = kind.layer.table
    total = conn.execute(text(f'SELECT count(*) FROM "{table}" t WHERE {sql}'), params).scalar_one()
    rows = conn.execute(text(f'SELECT {_columns(kind)} FROM "{table}" t WHERE {sql} ORDER BY t."{kind.key}" '
                             "LIMIT :limit OFFSET :offset"), {**params, "limit": limit, "offset": offset}).mappings()
    items = [{**{f.name: history.jsonable(r[f.name]) for f in kind.layer.fields},
              "lon": round(r["lon"], 7), "lat": round(r["lat"], 7)} for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def get_history(conn: Connection, kind: Kind, key: str, *, access: LayerAccess) -> dict[str, Any]:
    """The change history of a record the caller may read (oldest first)."""
    row = _row(conn, kind, check_key(kind, key), access=access)
    return {"kind": kind.name, "key": row[kind.key], "entries": history.entries(conn, kind, row[kind.key])}


# -- scope and location ---------------------------------------------------------------------------------------------
def check_write(conn: Connection, access: LayerAccess, kind: Kind, district: str | None, *,
                creating: bool = False) -> None:
    """403 unless a record of ``kind`` in ``district`` lies inside the caller's write scope (named in the error)."""
    scope = access.module_scope(MODULE, "write")
    if access.allows_values(conn, kind.layer_id, {"district_code": district}, scope=scope):
        return
    verb_en, verb_zh = ("create", "新建") if creating else ("change or move", "修改或迁入")
    raise access.refuse(
        f"layer:{kind.layer_id}", "write", reason=f"record outside the write scope ({scope.describe()})",
        message_en=f"you may not {verb_en} a {kind.label_en} in district {district}: your data scope is "
                   f"{scope.describe()}",
        message_zh=f"无权{verb_zh}区县 {district} 的{kind.label_zh}（您的数据范围：{scope.describe()}）",
        details={"layer": kind.layer_id, "district_code": district, "scope": scope.describe()})


def _place(conn: Connection, table: str, lon: float, lat: float) -> str | None:
    return conn.execute(text(f'SELECT code FROM "{table}" WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), '
                             "4490)) ORDER BY code LIMIT 1"), {"x": lon, "y": lat}).scalar()


def locate(conn: Connection, kind: Kind, data: Mapping[str, Any], *, required: bool) -> dict[str, Any] | None:
    """The location's column values (geometry, district, grid cell, park) from lon/lat in the declared CRS; None
    when an edit does not move the record. A ``district_code`` label must be the point's district."""
    given = [k for k in ("lon", "lat") if k in data]
    if not given:
        if "crs" in data:
            raise InvalidInput("lon", "lon and lat together with crs", details={"reason": "required"})
        if required:
            raise InvalidInput("lon", "lon and lat of the location (crs: cgcs2000 by default, or wgs84, gcj02, "
                               "bd09, EPSG:<code>)", details={"reason": "required"})
        return None
    if len(given) < 2:
        missing = "lat" if "lon" in given else "lon"
        raise InvalidInput(missing, "lon and lat of the location, with crs", details={"reason": "required"})
    lon, lat = to_storage(data["lon"], data["lat"], parse_crs(data.get("crs")))
    district = district_of(conn, lon, lat, "lon")
    label = data.get("district_code")
    if label not in (None, "") and label != district:
        raise InvalidInput(
            "district_code", f"the district of the location ({district}), or leave district_code out", value=label,
            message_en=f"district_code {label} disagrees with the location, which lies in district {district}; the "
                       "district is derived from the location",
            message_zh=f"所属区县 {label} 与位置不符：该位置位于区县 {district}；所属区县由位置确定",
            details={"reason": "district disagrees with the location", "district_code": label,
                     "location_district": district})
    values: dict[str, Any] = {"lon": lon, "lat": lat, "district_code": district}
    if kind is ENTERPRISE:
        values.update({name: _place(conn, table, lon, lat) for name, table in _PLACES.items()})
    return values


# -- writing --------------------------------------------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


def _enterprise_of(conn: Connection, uscc: str) -> RowMapping:
    row = conn.execute(text("SELECT uscc, status FROM enterprises WHERE uscc = :u"), {"u": uscc}).mappings().first()
    if row is None:
        raise InvalidInput("enterprise_uscc", "the USCC of an enterprise on record", value=uscc,
                           details={"reason": "no such enterprise"})
    if row["status"] != "active":
        raise InvalidInput("enterprise_uscc", "the USCC of an active enterprise", value=uscc,
                           details={"reason": "the enterprise is deactivated"})
    return row


def _write_row(conn: Connection, kind: Kind, key: str, values: dict[str, Any], *, insert: bool) -> None:
    """Insert or update the record's row (``lon``/``lat`` become the geometry; ``chemicals`` the inventory)."""
    columns = {k: v for k, v in values.items() if k not in ("lon", "lat", "chemicals")}
    params: dict[str, Any] = {f"v_{k}": v for k, v in columns.items()}
    geom = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)"
    if "lon" in values:
        params.update(lon=values["lon"], lat=values["lat"])
    if insert:
        names = ", ".join(f'"{k}"' for k in columns)
        conn.execute(text(f'INSERT INTO "{kind.layer.table}" ({names}, geom) VALUES '
                          f"({', '.join(':v_' + k for k in columns)}, {geom})"), params)
    else:
        sets = [f'"{k}" = :v_{k}' for k in columns] + ([f"geom = {geom}"] if "lon" in values else [])
        conn.execute(text(f'UPDATE "{kind.layer.table}" SET {", ".join(sets)} WHERE "{kind.key}" = :key'),
                     {**params, "key": key})
    if values.get("chemicals") is not None:
        conn.execute(text("DELETE FROM hazard_source_chemicals WHERE hazard_source_code = :c"), {"c": key})
        for line in values["chemicals"]:
            conn.execute(text("INSERT INTO hazard_source_chemicals (hazard_source_code, chemical_name, cas, "
                              "quantity_t, critical_quantity_t) VALUES (:c, :chemical_name, :cas, :quantity_t, "
                              ":critical_quantity_t)"), {"c": key, **line})


def create_in(conn: Connection, changes: Changes, kind: Kind, data: Mapping[str, Any], *, access: LayerAccess,
              actor: str, source: str = "api", coerce: bool = False) -> str:
    """Create a record inside the caller's open transaction; its key."""
    if kind.key not in data:
        raise InvalidInput(kind.key, "required", details={"reason": "required"})
    key = check_key(kind, data[kind.key])
    values = check_fields(kind, data, partial=False, coerce=coerce)
    values.update(locate(conn, kind, data, required=True) or {})
    check_write(conn, access, kind, values["district_code"], creating=True)
    exists = conn.execute(text(f'SELECT 1 FROM "{kind.layer.table}" WHERE "{kind.key}" = :k'), {"k": key}).first()
    if exists is not None or history.current_version(conn, kind, key):
        raise Conflict(f"{kind.label_en} {key} is already on record", f"{kind.label_zh} {key} 已在册",
                       details={"input": kind.key, kind.key: key}, code="duplicate_record")
    if kind is HAZARD_SOURCE:
        _enterprise_of(conn, values["enterprise_uscc"])
        values.update(grading.grade(values.pop("chemicals"), values["exposed_population"]))
    now = clock.now()
    values.update({kind.key: key, "status": "active", "updated_at": now})
    _write_row(conn, kind, key, values, insert=True)
    diff = {k: {"old": None, "new": v} for k, v in values.items() if k not in ("lon", "lat", "updated_at") and v is not None}
    diff["location"] = {"old": None, "new": {"lon": values["lon"], "lat": values["lat"]}}
    history.record(conn, changes, kind=kind, key=key, version=1, action="created", diff=diff, actor=actor,
                   source=source, at=now, district=values["district_code"], uscc=_uscc(kind, key, values))
    return key


def _uscc(kind: Kind, key: str, row: Mapping[str, Any]) -> str | None:
    return key if kind is ENTERPRISE else row.get("enterprise_uscc")


def update_in(conn: Connection, changes: Changes, kind: Kind, key: str, data: Mapping[str, Any], *,
              access: LayerAccess, actor: str, source: str = "api", case_id: int | None = None) -> None:
    """Edit a record inside the caller's open transaction (see :func:`update_record`)."""
    key = check_key(kind, key)
    expected = check_version(data)
    values = check_fields(kind, data, partial=True)
    if kind.key in values or (kind.key in data and data[kind.key] != key):
        raise InvalidInput(kind.key, f"the record's own {kind.key} ({key}); it cannot be changed", value=data[kind.key])
    current = _row(conn, kind, key, access=access, lock=True)
    check_write(conn, access, kind, current["district_code"])
    if current["status"] != "active":
        raise Conflict(f"{kind.label_en} {key} is deactivated: reactivate it before editing",
                       f"{kind.label_zh} {key} 已注销，请先恢复再修改", details={kind.key: key, "status": current["status"]},
                       code="record_deactivated")
    version = history.current_version(conn, kind, key)
    if expected != version:
        raise Conflict(f"{kind.label_en} {key} has changed since version {expected} (now {version}): reload and edit "
                       "again", f"{kind.label_zh} {key} 已被他人修改（当前版本 {version}，您的版本 {expected}），请刷新后重试",
                       details={kind.key: key, "version": expected, "current_version": version}, code="stale_version")
    moved = locate(conn, kind, data, required=False)
    if moved is None and values.get("district_code") not in (None, current["district_code"]):
        raise InvalidInput("district_code", f"the district of the record's location ({current['district_code']})",
                           value=values["district_code"],
                           details={"reason": "district disagrees with the location",
                                    "district_code": values["district_code"],
                                    "location_district": current["district_code"]})
    values.pop("district_code", None)
    if moved is not None:
        values.update(moved)
        check_write(conn, access, kind, moved["district_code"])
    regrade = None
    if kind is HAZARD_SOURCE:
        if values.get("enterprise_uscc") not in (None, current["enterprise_uscc"]):
            _enterprise_of(conn, values["enterprise_uscc"])
        if "chemicals" in values or "exposed_population" in values:
            specs = values.pop("chemicals", None) or grading.specs_of(_chemicals(conn, key))
            regrade = grading.grade(specs, values.get("exposed_population", current["exposed_population"]))
    diff = {k: {"old": current[k], "new": v} for k, v in values.items()
            if k not in ("lon", "lat") and not _same(current[k], v)}
    if moved is not None and not (_same(current["lon"], moved["lon"]) and _same(current["lat"], moved["lat"])):
        diff["location"] = {"old": {"lon": current["lon"], "lat": current["lat"]},
                            "new": {"lon": moved["lon"], "lat": moved["lat"]}}
    graded = {}
    if regrade is not None:
        old_chemicals = _chemicals(conn, key)
        if grading.lines(old_chemicals) != grading.lines(regrade["chemicals"]):
            diff["chemicals"] = {"old": old_chemicals, "new": regrade["chemicals"]}
        graded = {k: {"old": current[k], "new": regrade[k]} for k in ("grade", "s_value", "r_value")
                  if not _same(current[k], regrade[k])}
        values.update(regrade)
    if not diff and not graded:
        return  # nothing changed: no new version, no event
    now = clock.now()
    _write_row(conn, kind, key, {**values, "updated_at": now}, insert=False)
    district = values.get("district_code", current["district_code"])
    uscc = _uscc(kind, key, {**current, **values})
    if diff:
        diff.update({k: v for k, v in graded.items() if k != "grade"})
        history.record(conn, changes, kind=kind, key=key, version=version + 1, action="updated", diff=diff,
                       actor=actor, source=source, at=now, district=district, uscc=uscc, case_id=case_id)
    if "grade" in graded or (graded and not diff):
        history.record(conn, changes, kind=kind, key=key, version=version + 1, action="regraded", diff=graded,
                       actor=actor, source=source, at=now, district=district, uscc=uscc, case_id=case_id)
    if moved is not None and moved["district_code"] != current["district_code"]:
        # the district it left hears of it too (its readers lose the record from their map)
        changes.announce("record.updated", {"kind": kind.name, "key": key, "moved_to": moved["district_code"]},
                         scope=ScopeTag(kind.layer_id, current["district_code"], uscc))


def set_status_in(conn: Connection, changes: Changes, kind: Kind, key: str, target: str, data: Mapping[str, Any], *,
                  access: LayerAccess, actor: str, source: str = "api") -> None:
    """Deactivate (``target`` "deactivated") or reactivate ("active") a record inside an open transaction."""
    key = check_key(kind, key)
    expected = check_version(data)
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
        raise InvalidInput("reason", "text of at most 200 characters", value=reason)
    unknown = sorted(set(data) - {"version", "reason"})
    if unknown:
        raise InvalidInput(unknown[0], "version, reason", value=unknown[0], details={"reason": "unknown field"})
    current = _row(conn, kind, key, access=access, lock=True)
    check_write(conn, access, kind, current["district_code"])
    STATUS.check(current["status"], target, "status")
    version = history.current_version(conn, kind, key)
    if expected != version:
        raise Conflict(f"{kind.label_en} {key} has changed since version {expected} (now {version})",
                       f"{kind.label_zh} {key} 已被他人修改（当前版本 {version}），请刷新后重试",
                       details={kind.key: key, "version": expected, "current_version": version}, code="stale_version")
    if kind is ENTERPRISE and target == "deactivated":
        active = conn.execute(text("SELECT array_agg(code ORDER BY code) FROM hazard_sources WHERE enterprise_uscc = :u "
                                   "AND status = 'active'"), {"u": key}).scalar()
        if active:
            raise Conflict(f"enterprise {key} still has active hazard sources ({', '.join(active)}): deactivate "
                           "them first", f"企业 {key} 仍有在册的重大危险源（{'、'.join(active)}），请先核销",
                           details={"uscc": key, "hazard_sources": active}, code="has_active_hazard_sources")
    if kind is HAZARD_SOURCE and target == "active":
        _enterprise_of(conn, current["enterprise_uscc"])
    now = clock.now()
    conn.execute(text(f'UPDATE "{kind.layer.table}" SET status = :s, updated_at = :now WHERE "{kind.key}" = :k'),
                 {"s": target, "now": now, "k": key})
    diff: dict[str, Any] = {"status": {"old": current["status"], "new": target}}
    if reason:
        diff["reason"] = reason
    history.record(conn, changes, kind=kind, key=key, version=version + 1,
                   action="deactivated" if target == "deactivated" else "reactivated", diff=diff, actor=actor,
                   source=source, at=now, district=current["district_code"], uscc=_uscc(kind, key, current))


# -- one change per transaction (the API) ---------------------------------------------------------------------------
def create_record(conn: Connection, kind: Kind, data: Mapping[str, Any], *, access: LayerAccess,
                  actor: str) -> dict[str, Any]:
    with history.unit_of_work(conn) as changes:
        key = create_in(conn, changes, kind, data, access=access, actor=actor)
        return get_record(conn, kind, key, access=access)


def update_record(conn: Connection, kind: Kind, key: str, data: Mapping[str, Any], *, access: LayerAccess,
                  actor: str) -> dict[str, Any]:
    """A partial edit based on ``data["version"]``: 404 when the caller cannot see the record, 403 when they may
    not change it (before or after, e.g. a move to another district), 409 when it changed since that version or is
    deactivated, 400 naming the field for bad values."""
    with history.unit_of_work(conn) as changes:
        update_in(conn, changes, kind, key, data, access=access, actor=actor)
        return get_record(conn, kind, key, access=access)


def set_status(conn: Connection, kind: Kind, key: str, target: str, data: Mapping[str, Any], *,
               access: LayerAccess, actor: str) -> dict[str, Any]:
    with history.unit_of_work(conn) as changes:
        set_status_in(conn, changes, kind, key, target, data, access=access, actor=actor)
        return get_record(conn, kind, key, access=access)


__all__ = ["MODULE", "STATUS", "check_write", "create_in", "create_record", "get_history",
           "get_record", "list_records", "locate", "present", "set_status", "set_status_in", "update_in",
           "update_record"]
