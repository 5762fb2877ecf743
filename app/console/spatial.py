"""Spatial query: the features of chosen layers within a geodesic distance of a drawn point, line or polygon.

Selection is ``ST_DWithin(geom::geography, drawn::geography, buffer_m)`` — exact on the ellipsoid, so the list
equals what any PostGIS client gets with the same predicate. The buffer polygon returned for display is
``ST_Buffer(drawn::geography, buffer_m)``, a 32-gon approximation of that zone (its edges cut up to ~2 % of
the radius inside the true circle), so features very near the edge can be listed while drawn just outside it.
A degree box around the drawn geometry, widened to surely contain the zone, lets the GiST index pre-filter.

Data scope: the layers are named by the caller, so one it may not read (list) or export (export) is refused
with 401/403; rows outside the caller's scope of that action are neither listed, counted nor exported.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from app.console.catalog import title_field
from app.console.service import STORAGE_SRID, degree_margin, json_value, parse_layer_list
from core import i18n
from core.errors import InvalidInput, require_number
from layers.registry import Layer

GEOMETRY_TYPES = ("Point", "LineString", "Polygon")
MAX_BUFFER_M = 50_000.0
MAX_VERTICES = 10_000
LIST_LIMIT = 2_000     # per layer, in the JSON answer the console lists
EXPORT_LIMIT = 100_000  # per layer, in a CSV/Excel export
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8",
                  "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _positions(geometry: dict[str, Any]) -> list[list[float]]:
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Point":
        return [coords]
    if kind == "LineString":
        return list(coords or [])
    if kind == "Polygon":
        return [p for ring in coords or [] for p in ring]
    return []


def validate_geometry(geometry: Any) -> dict[str, Any]:
    """A GeoJSON Point/LineString/Polygon in lon/lat (CGCS2000), or InvalidInput."""
    allowed = "GeoJSON Point, LineString or Polygon in CGCS2000 lon/lat"
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRY_TYPES:
        raise InvalidInput("geometry", allowed, value=geometry.get("type") if isinstance(geometry, dict) else geometry)
    try:
        positions = _positions(geometry)
        if not positions or len(positions) > MAX_VERTICES:
            raise InvalidInput("geometry", f"{allowed}, 1..{MAX_VERTICES} vertices", value=len(positions))
        for i, p in enumerate(positions):
            require_number(f"geometry vertex {i} lon", p[0], minimum=-180, maximum=180, unit="°")
            require_number(f"geometry vertex {i} lat", p[1], minimum=-90, maximum=90, unit="°")
    except (TypeError, IndexError, KeyError):
        raise InvalidInput("geometry", allowed, value="malformed coordinates") from None
    if geometry["type"] == "LineString" and len(positions) < 2:
        raise InvalidInput("geometry", "a LineString of at least 2 vertices", value=len(positions))
    if geometry["type"] == "Polygon" and (len(geometry["coordinates"][0]) < 4
                                          or geometry["coordinates"][0][0] != geometry["coordinates"][0][-1]):
        raise InvalidInput("geometry", "a Polygon ring of at least 4 positions, first == last",
                           value=len(geometry["coordinates"][0]))
    return {"type": geometry["type"], "coordinates": geometry["coordinates"]}


def parse_request(body: Any) -> tuple[dict[str, Any], float, list[Layer]]:
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object {geometry, buffer_m, layers}")
    geometry = validate_geometry(body.get("geometry"))
    buffer_m = require_number("buffer_m", body.get("buffer_m", 0), minimum=0, maximum=MAX_BUFFER_M, unit="m")
    if geometry["type"] == "Point" and buffer_m == 0:
        raise InvalidInput("buffer_m", f"0 < buffer_m ≤ {MAX_BUFFER_M:g} m around a point", value=0)
    layers = parse_layer_list(body.get("layers"))
    return geometry, buffer_m, layers


def _layer_sql(layer: Layer, scope: str) -> str:
    cols = ", ".join(f't."{f.name}"' for f in layer.fields)
    return (
        f'SELECT t."{layer.id_field}" AS _id, {cols}, '
        f"ST_X(ST_PointOnSurface(t.geom)) AS _lon, ST_Y(ST_PointOnSurface(t.geom)) AS _lat, "
        f"ST_Distance(t.geom::geography, q.g::geography) AS _distance "
        f'FROM "{layer.table}" t, (SELECT ST_SetSRID(ST_GeomFromGeoJSON(:g), {STORAGE_SRID}) AS g) q '
        f"WHERE t.geom && ST_Expand(ST_Envelope(q.g), :dlon, :dlat) "
        f"AND ST_DWithin(t.geom::geography, q.g::geography, :m) AND {scope} "
        f'ORDER BY _distance, t."{layer.id_field}" LIMIT :limit'
    )


def _params(geometry: dict[str, Any], buffer_m: float, limit: int) -> dict[str, Any]:
    max_lat = max(abs(p[1]) for p in _positions(geometry))
    dlon, dlat = degree_margin(buffer_m, max_lat)
    # ST_Expand by 0 would drop the zero-distance matches on the box edge in float rounding; keep a hair
    return {"g": json.dumps(geometry), "m": buffer_m, "dlon": dlon + 1e-9, "dlat": dlat + 1e-9, "limit": limit}


def _scoped(access: LayerAccess, layer: Layer, action: str) -> tuple[str, dict[str, Any]]:
    return access.where(layer.id, alias="t", action=action)


def _rows(conn: Connection, layer: Layer, params: dict[str, Any], access: LayerAccess,
          action: str = "read") -> list[dict[str, Any]]:
    scope, scope_params = _scoped(access, layer, action)
    return [dict(r) for r in conn.execute(text(_layer_sql(layer, scope)), {**params, **scope_params}).mappings()]


def buffer_geometry(conn: Connection, geometry: dict[str, Any], buffer_m: float) -> dict[str, Any]:
    if buffer_m == 0:
        return geometry
    raw = conn.execute(text(
        f"SELECT ST_AsGeoJSON(ST_SetSRID(ST_Buffer(ST_SetSRID(ST_GeomFromGeoJSON(:g), {STORAGE_SRID})::geography, "
        f":m)::geometry, {STORAGE_SRID}), 7)"), {"g": json.dumps(geometry), "m": buffer_m}).scalar_one()
    return json.loads(raw)


def spatial_query(conn: Connection, body: Any, lang: str = "zh-CN", *, access: LayerAccess) -> dict[str, Any]:
    geometry, buffer_m, layers = parse_request(body)
    for layer in layers:
        access.require(layer.id)
    params = _params(geometry, buffer_m, LIST_LIMIT + 1)
    out_layers = []
    for layer in layers:
        rows = _rows(conn, layer, params, access)
        truncated = len(rows) > LIST_LIMIT
        rows = rows[:LIST_LIMIT]
        count = len(rows)
        if truncated:
            scope, scope_params = _scoped(access, layer, "read")
            count = conn.execute(text(f"SELECT count(*) FROM ({_layer_sql(layer, scope)}) s"),
                                 {**params, **scope_params, "limit": None}).scalar_one()
        name = title_field(layer)
        out_layers.append({
            "layer": layer.id, "title": {"zh-CN": layer.title_zh, "en": layer.title_en},
            "count": count, "truncated": truncated,
            "features": [{"id": r["_id"], "name": json_value(r[name]) if name else None,
                          "lon": r["_lon"], "lat": r["_lat"], "distance_m": round(r["_distance"], 1)} for r in rows],
        })
    return {"buffer_m": buffer_m, "geometry": geometry, "buffer": buffer_geometry(conn, geometry, buffer_m),
            "layers": out_layers}


# -- export ------------------------------------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    value = json_value(value)
    # A text cell starting like a formula would run as one in Excel (CSV injection); make it plain text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, float) and math.isfinite(value):
        return round(value, 8)
    return value


def _label(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if i18n.normalise_lang(lang) == "en" else pair[0]


COMMON = [("layer", ("图层", "Layer")), ("id", ("编号", "ID")), ("distance_m", ("距离(米)", "Distance (m)")),
          ("lon", ("经度(CGCS2000)", "Longitude (CGCS2000)")), ("lat", ("纬度(CGCS2000)", "Latitude (CGCS2000)"))]


Table = tuple[Layer, list[str], list[list[Any]]]


@dataclass(frozen=True)
class Export:
    """An export file and what went into it (for the audit log)."""

    data: bytes
    mimetype: str
    rows: dict[str, int]     # layer id → rows exported
    scopes: dict[str, str]   # layer id → the caller's export scope, in words


def export_tables(conn: Connection, body: Any, lang: str, *, access: LayerAccess) -> list[Table]:
    """Per layer: (layer, header, rows) of every feature in the zone (up to EXPORT_LIMIT) that the caller may
    export; a layer the caller may not export refuses the whole request (401/403) before anything is read."""
    geometry, buffer_m, layers = parse_request(body)
    for layer in layers:
        access.require(layer.id, "export")
    params = _params(geometry, buffer_m, EXPORT_LIMIT)
    en = i18n.normalise_lang(lang) == "en"
    tables = []
    for layer in layers:
        header = [_label(pair, lang) for _, pair in COMMON] + [f.label_en if en else f.label for f in layer.fields]
        title = layer.title_en if en else layer.title_zh
        rows = [[title, r["_id"], round(r["_distance"], 1), r["_lon"], r["_lat"]]
                + [r[f.name] for f in layer.fields] for r in _rows(conn, layer, params, access, "export")]
        tables.append((layer, header, [[_cell(v) for v in row] for row in rows]))
    return tables


def export(conn: Connection, body: Any, lang: str, fmt: str, *, access: LayerAccess) -> Export:
    """The spatial query's features as ``fmt`` (csv or xlsx), limited to the caller's export scope."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput("format", " or ".join(EXPORT_FORMATS), value=fmt)
    tables = export_tables(conn, body, lang, access=access)
    data = export_csv(tables) if fmt == "csv" else export_xlsx(tables, lang)
    return Export(data, EXPORT_FORMATS[fmt], {layer.id: len(rows) for layer, _, rows in tables},
                  {layer.id: access.scope(layer.id, "export").describe() for layer, _, _ in tables})


def export_csv(tables: list[Table]) -> bytes:
    """One CSV: each layer's block starts with its own header row (layers have different fields).
    UTF-8 with a BOM so that Excel on a Chinese Windows opens it without mojibake."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for i, (_layer, header, rows) in enumerate(tables):
        if i:
            writer.writerow([])
        writer.writerow(header)
        writer.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def export_xlsx(tables: list[Table], lang: str) -> bytes:
    """One sheet per layer (named by its title), with the layer's own labelled columns."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    workbook.remove(workbook.active)
    en = i18n.normalise_lang(lang) == "en"
    for layer, header, rows in tables:
        sheet = workbook.create_sheet((layer.title_en if en else layer.title_zh)[:31])
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        sheet.freeze_panes = "A2"
        for col, name in enumerate(header, start=1):
            sheet.column_dimensions[get_column_letter(col)].width = max(10, min(40, len(str(name)) * 2 + 2))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
