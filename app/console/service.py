"""Console logic without Flask: a feature's attributes and linked records, identify, the city extent.

Every SQL identifier below comes from the validated layer registry (``^[a-z][a-z0-9_]*$``), never from a
request; request values are always bound parameters. Every query is limited to the caller's data scope
(``access``, :class:`access.policy.rowscope.LayerAccess`): a layer the caller may not read is refused (401/403), a row
outside the scope does not exist (404 by id, absent from lists and references).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from app.console.catalog import title_field
from core import i18n
from core.errors import InvalidInput, NotFound, require_number
from core.jsonbody import json_value
from core.panels import PanelContext, render_sections
from layers.registry import Layer, default_registry

STORAGE_SRID = 4490
MAX_IDENTIFY_LAYERS = 30
# Metres per degree, rounded so that a degree box built from them always contains the metric circle
# (1° of latitude ≥ 110,574 m; 1° of longitude ≤ 111,320 m × cos φ).
M_PER_DEG_LAT_MIN = 110_000.0
M_PER_DEG_LON_EQUATOR = 111_400.0


def get_layer(layer_id: str) -> Layer:
    try:
        return default_registry().get(layer_id)
    except KeyError:
        raise NotFound(f"unknown layer {layer_id!r}", f"图层 {layer_id!r} 不存在",
                       details={"layer": layer_id}) from None


def degree_margin(metres: float, lat: float) -> tuple[float, float]:
    """(dlon, dlat) in degrees that surely cover ``metres`` around latitude ``lat`` (index pre-filter)."""
    dlat = metres / M_PER_DEG_LAT_MIN
    cos = math.cos(math.radians(min(89.0, abs(lat) + dlat)))
    return metres / (M_PER_DEG_LON_EQUATOR * cos) * 1.01, dlat


def _columns(layer: Layer) -> str:
    return ", ".join(f't."{f.name}"' for f in layer.fields)


def _reference_titles(conn: Connection, layer: Layer, row: dict[str, Any], access: LayerAccess
                      ) -> dict[str, dict[str, Any]]:
    """For each reference field with a value: the referenced feature's layer, id and name (a link in the panel).

    A referenced feature the caller may not read gets no link and no name (the field keeps its own value).
    """
    registry = default_registry()
    by_table = {candidate.table: candidate for candidate in registry}
    out: dict[str, dict[str, Any]] = {}
    for f in layer.fields:
        if not f.references or row.get(f.name) is None:
            continue
        table, column = f.references.split(".")
        target = by_table[table]
        if not access.can(target.id):
            continue
        name_field = title_field(target) or column
        scope, params = access.where(target.id, alias="r")
        ref = conn.execute(text(f'SELECT r."{target.id_field}" AS id, r."{name_field}" AS name '
                                f'FROM "{target.table}" r WHERE r."{column}" = :v AND {scope} LIMIT 1'),
                           {**params, "v": row[f.name]}).mappings().first()
        if ref is not None:
            out[f.name] = {"layer": target.id, "id": ref["id"], "name": ref["name"]}
    return out


def feature_details(conn: Connection, layer_id: str, feature_id: int, lang: str = "zh-CN", *,
                    access: LayerAccess) -> dict[str, Any]:
    """Attributes (with the registry's labels, coded values in words, references resolved) and panel sections.

    A layer the caller may not read: 401/403; a feature outside the caller's scope: 404, like a missing one.
    """
    layer = get_layer(layer_id)
    access.require(layer_id)
    scope, params = access.where(layer_id, alias="t")
    row = conn.execute(text(
        f'SELECT {_columns(layer)}, ST_X(ST_PointOnSurface(t.geom)) AS _lon, ST_Y(ST_PointOnSurface(t.geom)) AS _lat, '
        f'ST_XMin(t.geom) AS _xmin, ST_YMin(t.geom) AS _ymin, ST_XMax(t.geom) AS _xmax, ST_YMax(t.geom) AS _ymax '
        f'FROM "{layer.table}" t WHERE t."{layer.id_field}" = :id AND {scope}'),
        {**params, "id": feature_id}).mappings().first()
    if row is None:
        access.note_hidden(conn, layer_id, feature_id)
        raise NotFound(f"{layer_id} {feature_id} does not exist", f"{layer.title_zh} {feature_id} 不存在",
                       details={"layer": layer_id, "id": feature_id})
    values = dict(row)
    refs = _reference_titles(conn, layer, values, access)
    attributes = []
    for f in layer.fields:
        value = json_value(values[f.name])
        item: dict[str, Any] = {"name": f.name, "label": {"zh-CN": f.label, "en": f.label_en}, "value": value}
        words = f.label_of(value, i18n.normalise_lang(lang))
        if words is not None:
            item["text"] = words
        if f.name in refs:
            item["ref"] = refs[f.name]
        attributes.append(item)
    name_field = title_field(layer)
    ctx = PanelContext(conn=conn, lang=lang, layer_id=layer_id, access=access,
                       attributes={f.name: json_value(values[f.name]) for f in layer.fields})
    return {
        "layer": layer_id,
        "layerTitle": {"zh-CN": layer.title_zh, "en": layer.title_en},
        "id": feature_id,
        "title": json_value(values[name_field]) if name_field else f"{layer.title_zh} {feature_id}",
        "center": [values["_lon"], values["_lat"]],
        "bbox": [values["_xmin"], values["_ymin"], values["_xmax"], values["_ymax"]],
        "attributes": attributes,
        "sections": render_sections(layer_id, feature_id, ctx),
    }


def parse_layer_list(raw: str | list[str] | None, *, name: str = "layers") -> list[Layer]:
    ids = raw if isinstance(raw, list) else [s for s in (raw or "").split(",") if s]
    registry = default_registry()
    unknown = [i for i in ids if i not in registry]
    if unknown or not ids or len(ids) > MAX_IDENTIFY_LAYERS:
        raise InvalidInput(name, f"1..{MAX_IDENTIFY_LAYERS} of: {', '.join(registry.ids)}",
                           value=",".join(unknown) if unknown else len(ids))
    return [registry.get(i) for i in ids]


def identify(conn: Connection, layers: list[Layer], lon: Any, lat: Any, tolerance_m: Any,
             limit: int = 5, *, access: LayerAccess) -> list[dict[str, Any]]:
    """Features of ``layers`` within ``tolerance_m`` (geodesic) of a clicked point, nearest first.

    Polygons containing the point are at distance 0. Used for layers drawn as raster tiles, whose features the
    browser does not have. The layers are named by the caller: one it may not read is refused (401/403).
    """
    lon = require_number("lon", lon, minimum=-180, maximum=180, unit="°")
    lat = require_number("lat", lat, minimum=-90, maximum=90, unit="°")
    tol = require_number("tolerance_m", tolerance_m, minimum=0, maximum=5000, unit="m")
    for layer in layers:
        access.require(layer.id)
    dlon, dlat = degree_margin(tol, lat)
    hits: list[dict[str, Any]] = []
    for layer in layers:
        name = title_field(layer)
        label = f't."{name}"' if name else "NULL"
        scope, params = access.where(layer.id, alias="t")
        rows = conn.execute(text(
            f'SELECT t."{layer.id_field}" AS id, {label} AS name, '
            f'ST_Distance(t.geom::geography, p.g::geography) AS d '
            f'FROM "{layer.table}" t, (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), {STORAGE_SRID}) AS g) p '
            f'WHERE t.geom && ST_Expand(p.g, :dlon, :dlat) '
            f'AND ST_DWithin(t.geom::geography, p.g::geography, :tol) AND {scope} ORDER BY d LIMIT :limit'),
            {**params, "lon": lon, "lat": lat, "dlon": dlon, "dlat": dlat, "tol": tol, "limit": limit}).mappings()
        hits += [{"layer": layer.id, "layerTitle": {"zh-CN": layer.title_zh, "en": layer.title_en},
                  "id": r["id"], "name": json_value(r["name"]), "distance_m": round(r["d"], 2)} for r in rows]
    # Points and lines beat the polygon they sit in: a click means the small thing under the cursor.
    rank = {layer.id: (0 if layer.geometry.endswith("Polygon") else -1) for layer in layers}
    hits.sort(key=lambda h: (rank[h["layer"]], h["distance_m"]))
    return hits


def city_extent(conn: Connection) -> list[float] | None:
    """[minlon, minlat, maxlon, maxlat] of the districts (the console's initial view)."""
    row = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                            "FROM (SELECT ST_Extent(geom) AS e FROM districts) s")).first()
    return [float(v) for v in row] if row and row[0] is not None else None


def enterprise_grades(conn: Connection, *, access: LayerAccess) -> dict[str, int]:
    """USCC → grade of the enterprise's most dangerous hazard source (1 is the most dangerous).

    Hazard-source data: refused (401/403) to a caller who may not read hazard sources; otherwise only hazard
    sources and enterprises inside the caller's scope count.
    """
    access.require("hazard_sources")
    h_scope, h_params = access.where("hazard_sources", alias="h")
    e_scope, e_params = access.where("enterprises", alias="e")
    in_scope = "TRUE" if e_scope == "TRUE" else \
        f"EXISTS (SELECT 1 FROM enterprises e WHERE e.uscc = h.enterprise_uscc AND {e_scope})"
    rows = conn.execute(text(f"SELECT h.enterprise_uscc, min(h.grade) FROM hazard_sources h "
                             f"WHERE {h_scope} AND {in_scope} GROUP BY h.enterprise_uscc"), {**h_params, **e_params})
    return {uscc: grade for uscc, grade in rows}
