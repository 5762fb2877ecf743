"""Emergency resources (rescue teams, depots, shelters, experts, hospitals, fire stations): query and edit.

The attributes and their rules come from the layer registry, and so does the kind → layer mapping
(``emergency.models.resource_layers()``: the layers declaring ``dispatch:``). Routing snaps are kept current by
database triggers (migration 0002).
Every function takes the caller's ``access`` (read scope of the kind's layer; module write scope for changes, see
:mod:`emergency.access`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select, text
from sqlalchemy.engine import Connection, RowMapping

from access.policy.rowscope import LayerAccess
from core.errors import InvalidInput, NotFound
from core.geo.points import district_of, parse_crs, to_storage
from core.params import int_arg
from emergency.access import check_write, tag
from emergency.history import Changes, unit_of_work
from emergency.resources.schemas import check_attributes, resource_layer
from layers.models import metadata
from layers.registry import Layer

MAX_PAGE = 1000
DEFAULT_PAGE = 100
#: Capacity figures summed per district in the statistics (kind → numeric fields of its layer).
CAPACITY: dict[str, tuple[str, ...]] = {
    "rescue_team": ("members",),
    "shelter": ("capacity", "occupancy"),
    "hospital": ("beds",),
    "fire_station": ("vehicles", "personnel"),
}


def table_of(layer: Layer) -> Table:
    return metadata().tables[layer.table]


def _round(v: float) -> float:
    return round(v, 7)  # ~1 cm: more digits would only be noise


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def feature(kind: str, layer: Layer, row: Mapping[str, Any]) -> dict[str, Any]:
    """A resource as a GeoJSON Feature (lon/lat CGCS2000)."""
    props = {f.name: _jsonable(row[f.name]) for f in layer.fields}
    props["kind"] = kind
    if "snap_m" in row and row["snap_m"] is not None:
        props["road_node_id"], props["road_snap_m"] = row["node_id"], round(row["snap_m"], 1)
    return {"type": "Feature", "id": row["id"], "properties": props,
            "geometry": {"type": "Point", "coordinates": [_round(row["lon"]), _round(row["lat"])]}}


def _select(kind: str, layer: Layer):  # noqa: ANN202 - a SQLAlchemy Select
    table = table_of(layer)
    snaps = metadata().tables["resource_snaps"]
    return (select(table.c.id, *(table.c[f.name] for f in layer.fields),
                   func.ST_X(table.c.geom).label("lon"), func.ST_Y(table.c.geom).label("lat"),
                   snaps.c.node_id, snaps.c.snap_m)
            .select_from(table.outerjoin(snaps, (snaps.c.kind == kind) & (snaps.c.resource_id == table.c.id))))


def in_scope(layer: Layer, access: LayerAccess) -> ColumnElement[bool]:
    """The caller's read scope on ``layer`` as a condition on its (unaliased) table."""
    where, params = access.where(layer.id, alias=layer.table)
    # text() refuses values for parameters it does not use (a layer without an enterprise column has no USCCs)
    return text(where).bindparams(**{k: v for k, v in params.items() if f":{k}" in where})


def not_found(kind: str, layer: Layer, resource_id: int) -> NotFound:
    return NotFound(f"no {kind} with id {resource_id}", f"不存在编号为 {resource_id} 的{layer.title_zh}",
                    details={"kind": kind, "id": resource_id})


def check_resource_write(conn: Connection, access: LayerAccess, layer: Layer, district: str | None, *,
                         creating: bool = False) -> None:
    """403 unless a resource of ``layer`` in ``district`` lies in the caller's write scope."""
    check_write(conn, access, layer.id, {"district_code": district}, what_en=layer.title_en.lower(),
                what_zh=layer.title_zh, creating=creating)


def _bbox(value: str) -> tuple[float, float, float, float]:
    allowed = "minlon,minlat,maxlon,maxlat (CGCS2000 degrees), min < max"
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        raise InvalidInput("bbox", allowed, value=value) from None
    if len(parts) != 4 or not all(map(lambda p: -180 <= p <= 180, parts)) or not (
            parts[0] < parts[2] and parts[1] < parts[3]):
        raise InvalidInput("bbox", allowed, value=value)
    return parts[0], parts[1], parts[2], parts[3]


def list_resources(conn: Connection, kind: str, args: Mapping[str, str], *, access: LayerAccess) -> dict[str, Any]:
    """Filters: any attribute by equality (``speciality=hazchem``), ``q`` (name contains), ``bbox``;
    paging by ``limit`` (1..1000, default 100) and ``offset``. Unknown parameters → 400. Only resources in the
    caller's read scope are listed and counted."""
    layer = resource_layer(kind)
    table = table_of(layer)
    query = _select(kind, layer)
    conditions = [in_scope(layer, access)]
    for name, value in args.items():
        if name in ("limit", "offset"):
            continue
        if name == "bbox":
            x0, y0, x1, y1 = _bbox(value)
            conditions.append(table.c.geom.op("&&")(func.ST_MakeEnvelope(x0, y0, x1, y1, 4490)))
        elif name == "q":
            conditions.append(table.c.name.ilike("%" + value.replace("%", r"\%").replace("_", r"\_") + "%"))
        elif name in layer.field_names:
            typed = check_attributes(layer, {name: value}, partial=True, coerce=True)[name]
            conditions.append(table.c[name].is_(None) if typed is None else table.c[name] == typed)
        else:
            raise InvalidInput(name, "limit, offset, bbox, q or a field: " + ", ".join(layer.field_names),
                               value=name, details={"reason": "unknown parameter"})
    limit = int_arg(args, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    offset = int_arg(args, "offset", 0, 0, 10**9)
    for c in conditions:
        query = query.where(c)
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(table.c.id).limit(limit).offset(offset)).mappings().all()
    return {"type": "FeatureCollection", "kind": kind, "numberMatched": total, "numberReturned": len(rows),
            "limit": limit, "offset": offset, "features": [feature(kind, layer, r) for r in rows]}


def get_row(conn: Connection, kind: str, resource_id: int, *, access: LayerAccess) -> RowMapping:
    """The resource row (404 when missing or outside the caller's read scope)."""
    layer = resource_layer(kind)
    query = _select(kind, layer).where(table_of(layer).c.id == resource_id, in_scope(layer, access))
    row = conn.execute(query).mappings().first()
    if row is None:
        access.note_hidden(conn, layer.id, resource_id)
        raise not_found(kind, layer, resource_id)
    return row


def get_resource(conn: Connection, kind: str, resource_id: int, *, access: LayerAccess) -> dict[str, Any]:
    return feature(kind, resource_layer(kind), get_row(conn, kind, resource_id, access=access))


def _location(conn: Connection, data: Mapping[str, Any], values: dict[str, Any], *, required: bool) -> str | None:
    """Put the geometry (and a derived district) into ``values``; returns the district of the point."""
    given = [k for k in ("lon", "lat") if k in data]
    if not given and not required:
        return None
    if len(given) < 2:
        missing = "lat" if "lon" in given else "lon"
        raise InvalidInput(missing, "lon and lat of the location, with crs", details={"reason": "required"})
    crs = parse_crs(data.get("crs"))
    lon, lat = to_storage(data["lon"], data["lat"], crs)
    district = district_of(conn, lon, lat)
    values["geom"] = f"SRID=4490;POINT({lon!r} {lat!r})"
    return district


def district_disagrees(conn: Connection, given: Any, derived: str, where: str) -> InvalidInput:
    """The 400 for a client-sent ``district_code`` that is not the district its location lies in.

    Refused rather than overwritten: a district and a point that disagree mean one of them is wrong (swapped
    lon/lat, a web-map point sent as CGCS2000, a copied row), and quietly keeping either would file the resource
    under a district nobody meant. The district is always the location's; sending it is optional.
    """
    known = conn.execute(text("SELECT 1 FROM districts WHERE code = :c"), {"c": given}).first() is not None
    return InvalidInput(
        "district_code", f"the district of the location ({derived}), or leave district_code out", value=given,
        message_en=f"district_code {given} disagrees with the location, which lies in district {derived} "
                   f"({where}); the district is derived from the location",
        message_zh=f"所属区县 {given} 与位置不符：该位置位于区县 {derived}（{where}）；所属区县由位置确定",
        details={"reason": "district disagrees with the location" if known else "no such district",
                 "district_code": given,
                 "location_district": derived})


def announce(changes: Changes, kind: str, action: str, ids: list[int], district: str | None) -> None:
    """Queue ``resource.changed`` for resources of one district (the scope tag of the live event)."""
    layer = resource_layer(kind)
    changes.announce("resource.changed", {"kind": kind, "action": action, "ids": ids},
                     scope=tag(layer.id, {"district_code": district}))


def create_resource(conn: Connection, kind: str, data: Mapping[str, Any], *, access: LayerAccess) -> dict[str, Any]:
    """A new resource; 403 when its district lies outside the caller's write scope."""
    layer = resource_layer(kind)
    values = check_attributes(layer, dict(data), partial=False)
    with unit_of_work(conn) as changes:
        district = _location(conn, data, values, required=True)
        if values.get("district_code") not in (None, district):
            raise district_disagrees(conn, values["district_code"], district, "the given lon/lat")
        values["district_code"] = district
        check_resource_write(conn, access, layer, district, creating=True)
        new_id = conn.execute(table_of(layer).insert().values(**values).returning(table_of(layer).c.id)).scalar_one()
        announce(changes, kind, "created", [new_id], values["district_code"])
    return get_resource(conn, kind, new_id, access=access)


def update_resource(conn: Connection, kind: str, resource_id: int, data: Mapping[str, Any], *,
                    access: LayerAccess) -> dict[str, Any]:
    """A partial update: 404 when the caller cannot see the resource, 403 when they may not change it (before or
    after the change, e.g. moving it to another district). A move re-derives the district from the new location;
    a ``district_code`` sent on its own must be the one the resource's location already lies in."""
    layer = resource_layer(kind)
    values = check_attributes(layer, dict(data), partial=True)
    if "crs" in data and not {"lon", "lat"} & set(data):
        raise InvalidInput("lon", "lon and lat together with crs", details={"reason": "required"})
    table = table_of(layer)
    with unit_of_work(conn) as changes:
        current = conn.execute(select(table.c.id, table.c.district_code,
                                      func.ST_X(table.c.geom).label("lon"), func.ST_Y(table.c.geom).label("lat"))
                               .where(table.c.id == resource_id, in_scope(layer, access)).with_for_update()).first()
        if current is None:
            access.note_hidden(conn, layer.id, resource_id, action="write")
            raise not_found(kind, layer, resource_id)
        check_resource_write(conn, access, layer, current.district_code)
        moved_to = _location(conn, data, values, required=False)
        if moved_to is not None:
            if values.get("district_code") not in (None, moved_to):
                raise district_disagrees(conn, values["district_code"], moved_to, "the given lon/lat")
            values["district_code"] = moved_to
        elif values.get("district_code") is not None:
            stays_in = district_of(conn, current.lon, current.lat)
            if values["district_code"] != stays_in:
                raise district_disagrees(conn, values["district_code"], stays_in, "the resource's current location")
        if values.get("district_code") is not None:
            check_resource_write(conn, access, layer, values["district_code"])
        if values:
            conn.execute(table.update().where(table.c.id == resource_id).values(**values))
            # a move between districts is news in both
            for district in dict.fromkeys((current.district_code, values.get("district_code", current.district_code))):
                announce(changes, kind, "updated", [resource_id], district)
    return get_resource(conn, kind, resource_id, access=access)


def statistics(conn: Connection, kinds: list[str], *, access: LayerAccess) -> dict[str, Any]:
    """Counts (and capacity sums) of each resource kind per district, of the resources the caller may read.

    A district outside the caller's scope for a kind has ``null`` for that kind's count (not 0: it is not
    known to them); totals add up what they can see.
    """
    districts = conn.execute(text("SELECT code, name FROM districts ORDER BY code")).all()
    per: dict[str, dict[str, Any]] = {code: {"code": code, "name": name, "counts": {}, "capacity": {}}
                                      for code, name in districts}
    totals: dict[str, Any] = {"counts": {}, "capacity": {}}
    for kind in kinds:
        layer = resource_layer(kind)
        table = table_of(layer)
        sums = [func.coalesce(func.sum(table.c[f]), 0).label(f) for f in CAPACITY.get(kind, ())]
        rows = conn.execute(select(table.c.district_code, func.count().label("n"), *sums)
                            .where(in_scope(layer, access)).group_by(table.c.district_code)).mappings().all()
        totals["counts"][kind] = 0
        for row in rows:
            entry = per.setdefault(row["district_code"], {"code": row["district_code"], "name": None,
                                                          "counts": {}, "capacity": {}})
            entry["counts"][kind] = row["n"]
            totals["counts"][kind] += row["n"]
            for f in CAPACITY.get(kind, ()):
                key = f"{kind}.{f}"
                entry["capacity"][key] = int(row[f])
                totals["capacity"][key] = totals["capacity"].get(key, 0) + int(row[f])
        for code, entry in per.items():
            entry["counts"].setdefault(kind, 0 if access.admits(layer.id, district_code=code) else None)
    return {"kinds": kinds, "districts": list(per.values()), "totals": totals,
            "labels": {k: resource_layer(k).title_zh for k in kinds}}
