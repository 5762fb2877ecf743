"""Console search: a coordinate (decimal or DMS, declared datum) or text over the registry's searchable fields.

Coordinates. ``119°1'30"E 32°0'0"N``, ``N32.5 E119``, ``32.0,119.0``, ``119.025 32`` and Chinese ``东经119度1分30秒``
are read. Which number is the longitude:

1. hemisphere letters (E/W/N/S, 东/西/南/北) decide when given (both on one axis is an error);
2. otherwise a number beyond ±90 can only be a longitude;
3. otherwise both orders are tried against the China rectangle GCJ-02 uses (72.0–137.8°E, 0.8–55.8°N).
   Longitudes there are ≥ 72 and latitudes ≤ 55.8, so at most one order fits and it is taken: ``32.0,119.0``
   and ``119.0,32.0`` both mean 119°E 32°N;
4. if neither order falls in China, both readings are returned marked ``ambiguous`` and the user chooses —
   never guessed silently.

The datum is declared by the caller (``crs``: cgcs2000/wgs84, gcj02, bd09) and converted explicitly to CGCS2000
with :mod:`core.geo.coords`; CGCS2000 and WGS-84 differ by centimetres and are treated as one.

Text search runs over every layer the caller may read (others are skipped silently: nobody named them) and
only over the rows inside the caller's data scope.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from app.console.catalog import title_field
from core.errors import InvalidInput
from core.geo.coords import convert, normalise_system, out_of_china
from layers.registry import Layer, default_registry

MAX_QUERY = 200
_NUM = r"[+-]?\d+(?:\.\d+)?"
_TRANSLATE = str.maketrans({"东": "E", "西": "W", "南": "S", "北": "N", "度": "°", "分": "'", "秒": '"',
                            "′": "'", "’": "'", "‘": "'", "″": '"', "“": '"', "”": '"', "，": ",", "；": ";",
                            "º": "°", "˚": "°"})


def _component(i: int) -> str:
    return (rf"(?P<d{i}>{_NUM})(?:\s*°\s*(?:(?P<m{i}>\d+(?:\.\d+)?)\s*'\s*(?:(?P<s{i}>\d+(?:\.\d+)?)\s*\"?)?)?)?")


_SEP = r"\s*(?:[,;]\s*|\s+)"
_PATTERNS = [
    re.compile(rf"^\s*{_component(1)}\s*(?P<h1>[NSEW])\s*[,;]?\s*{_component(2)}\s*(?P<h2>[NSEW])\s*$", re.I),
    re.compile(rf"^\s*(?P<h1>[NSEW])\s*{_component(1)}\s*[,;]?\s*(?P<h2>[NSEW])\s*{_component(2)}\s*$", re.I),
    re.compile(rf"^\s*{_component(1)}{_SEP}{_component(2)}\s*$"),
]
# Words people put before a coordinate (经度/纬度, lon/lat) carry no information the numbers lack.
_NOISE = re.compile(r"(?i)\b(?:lon|lng|lat|longitude|latitude)\b\s*[:=]?|经度|纬度|经|纬|[:=]")


def _degrees(match: re.Match[str], i: int) -> float:
    d, m, s = match[f"d{i}"], match[f"m{i}"], match[f"s{i}"]
    value = float(d)
    if m is None:
        return value
    minutes, seconds = float(m), float(s or 0)
    if minutes >= 60 or seconds >= 60:
        raise InvalidInput("q", "minutes and seconds below 60", value=match[0].strip())
    sign = -1.0 if d.startswith("-") else 1.0
    return sign * (abs(value) + minutes / 60 + seconds / 3600)


def parse_coordinate(q: str) -> list[tuple[float, float]] | None:
    """Readings ``(lon, lat)`` of ``q`` (one, or two when the axis order is ambiguous); None if not a coordinate."""
    cleaned = _NOISE.sub(" ", q.translate(_TRANSLATE)).strip()
    for pattern in _PATTERNS:
        match = pattern.match(cleaned)
        if match is None:
            continue
        a, b = _degrees(match, 1), _degrees(match, 2)
        hemis = [(match.groupdict().get(f"h{i}") or "").upper() for i in (1, 2)]
        if all(hemis):
            return [_by_hemisphere(q, (a, hemis[0]), (b, hemis[1]))]
        return _by_range(q, a, b)
    return None


def _by_hemisphere(q: str, *parts: tuple[float, str]) -> tuple[float, float]:
    lon = [abs(v) * (-1 if h == "W" else 1) for v, h in parts if h in "EW"]
    lat = [abs(v) * (-1 if h == "S" else 1) for v, h in parts if h in "NS"]
    if len(lon) != 1 or len(lat) != 1:
        raise InvalidInput("q", "one longitude (E/W) and one latitude (N/S)", value=q)
    _check_range(q, lon[0], lat[0])
    return lon[0], lat[0]


def _check_range(q: str, lon: float, lat: float) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("q", "longitude −180…180, latitude −90…90", value=q)


def _by_range(q: str, a: float, b: float) -> list[tuple[float, float]]:
    if abs(a) > 90 and abs(b) > 90:
        raise InvalidInput("q", "one value within ±90 (the latitude)", value=q)
    if abs(a) > 90 or abs(b) > 90:
        lon, lat = (a, b) if abs(a) > 90 else (b, a)
        _check_range(q, lon, lat)
        return [(lon, lat)]
    readings = [(a, b), (b, a)] if a != b else [(a, b)]
    in_china = [r for r in readings if not out_of_china(*r)]
    return in_china if len(in_china) == 1 else readings


def coordinate_results(q: str, crs: str) -> list[dict[str, Any]] | None:
    readings = parse_coordinate(q)
    if readings is None:
        return None
    system = normalise_system(crs or "cgcs2000", "crs")
    results = []
    for lon_in, lat_in in readings:
        lon, lat = convert(lon_in, lat_in, system, "cgcs2000")
        results.append({"kind": "coordinate", "lon": round(lon, 8), "lat": round(lat, 8),
                        "input": {"lon": lon_in, "lat": lat_in, "crs": system},
                        "ambiguous": len(readings) > 1})
    return results


def _escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_fields(layer: Layer) -> list[str]:
    return [name for name in layer.searchable if layer.field(name).type in ("string", "text")]


def _layer_query(layer: Layer, fields: list[str], scope: str = "TRUE") -> str:
    name = title_field(layer) or fields[0]
    where = " OR ".join(f't."{f}" ILIKE :pat' for f in fields)
    exact = " OR ".join(f'upper(t."{f}") = upper(:q)' for f in fields)
    score = ", ".join(f'similarity(t."{f}", :q)' for f in fields)
    score_sql = f"greatest({score})" if len(fields) > 1 else score
    subtitle = [f for f in fields if f != name]
    sub_sql = f"concat_ws(' · ', {', '.join(f't.{chr(34)}{f}{chr(34)}' for f in subtitle)})" if subtitle else "NULL"
    return (
        f'SELECT t."{layer.id_field}" AS id, t."{name}" AS name, {sub_sql} AS subtitle, '
        f"ST_X(ST_PointOnSurface(t.geom)) AS lon, ST_Y(ST_PointOnSurface(t.geom)) AS lat, "
        f"ST_XMin(t.geom) AS xmin, ST_YMin(t.geom) AS ymin, ST_XMax(t.geom) AS xmax, ST_YMax(t.geom) AS ymax, "
        f"({exact}) AS exact, {score_sql} AS score "
        f'FROM "{layer.table}" t WHERE ({where}) AND {scope} '
        f'ORDER BY exact DESC, score DESC, t."{layer.id_field}" LIMIT :limit'
    )


def text_results(conn: Connection, q: str, limit: int, *, access: LayerAccess) -> list[dict[str, Any]]:
    """Features whose searchable fields contain ``q`` (pg_trgm indexes); exact matches (a USCC) first,
    enterprises before other layers at equal rank. Only layers and rows the caller may read."""
    params = {"q": q, "pat": f"%{_escape_like(q)}%", "limit": limit}
    results = []
    for order, layer in enumerate(sorted(default_registry(), key=lambda x: x.id != "enterprises")):
        fields = _text_fields(layer)
        if not fields or not access.can(layer.id):
            continue
        scope, scope_params = access.where(layer.id, alias="t")
        for r in conn.execute(text(_layer_query(layer, fields, scope)), {**params, **scope_params}).mappings():
            results.append({
                "kind": "feature", "layer": layer.id, "layerTitle": {"zh-CN": layer.title_zh, "en": layer.title_en},
                "id": r["id"], "name": r["name"], "subtitle": r["subtitle"] or None,
                "lon": r["lon"], "lat": r["lat"], "bbox": [r["xmin"], r["ymin"], r["xmax"], r["ymax"]],
                "exact": bool(r["exact"]), "_rank": (not r["exact"], -float(r["score"] or 0), order),
            })
    results.sort(key=lambda r: r.pop("_rank"))
    return results[:limit]


def search(conn: Connection, q: str | None, crs: str | None = None, limit: int = 20, *,
           access: LayerAccess) -> dict[str, Any]:
    q = (q or "").strip()
    if not q or len(q) > MAX_QUERY:
        raise InvalidInput("q", f"1..{MAX_QUERY} characters", value=len(q))
    coords = coordinate_results(q, crs or "cgcs2000")
    if coords is not None:
        return {"query": q, "kind": "coordinate", "results": coords}
    return {"query": q, "kind": "text", "results": text_results(conn, q, limit, access=access)}
