"""Coordinates coming in: declared CRS, explicit conversion to CGCS2000, and "is it in our city?".

Every location the emergency API accepts names its CRS (``crs=cgcs2000|wgs84|gcj02|bd09|EPSG:nnnn``, default
cgcs2000); nothing is guessed. GCJ-02/BD-09 go through :mod:`core.geo.coords`; EPSG codes through PROJ with
x = easting/longitude, y = northing/latitude whatever the CRS's own axis order.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from sqlalchemy import text
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from core.geo.coords import convert

STORAGE_SRID = 4490
CRS_ALLOWED = "cgcs2000 (default), wgs84, gcj02, bd09 or EPSG:<code>"
_EPSG = re.compile(r"^epsg:(\d{4,6})$")
_NAMED = {"cgcs2000": "wgs84", "wgs84": "wgs84", "gcj02": "gcj02", "bd09": "bd09"}


class OutsideCity(InvalidInput):
    """A location that lies in none of the city's districts."""

    code = "outside_city"


def parse_crs(value: Any, input_name: str = "crs") -> str:
    """Canonical CRS name: ``wgs84`` (also for cgcs2000), ``gcj02``, ``bd09`` or ``EPSG:<code>``."""
    if value is None or value == "":
        return "wgs84"
    if not isinstance(value, str):
        raise InvalidInput(input_name, CRS_ALLOWED, value=value)
    name = value.strip().lower().replace("-", "").replace("_", "")
    if name in _NAMED:
        return _NAMED[name]
    match = _EPSG.match(value.strip().lower())
    if not match:
        raise InvalidInput(input_name, CRS_ALLOWED, value=value)
    code = int(match.group(1))
    try:
        _transformer(code)
    except CRSError:
        raise InvalidInput(input_name, CRS_ALLOWED, value=value, details={"reason": "unknown EPSG code"}) from None
    return f"EPSG:{code}"


@cache
def _transformer(code: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(code), CRS.from_epsg(STORAGE_SRID), always_xy=True)


def _number(name: str, value: Any) -> float:
    """A finite number from JSON or a query string ("NaN", "inf" and friends are refused)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidInput(name, "a finite number", value=value, details={"reason": "not a number"}) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(name, "a finite number", value=value, details={"reason": "not a number"})
    if not math.isfinite(value):
        raise InvalidInput(name, "a finite number", value=str(value), details={"reason": "not finite"})
    return float(value)


def to_storage(x: Any, y: Any, crs: str, names: tuple[str, str] = ("lon", "lat")) -> tuple[float, float]:
    """Validate one point given in ``crs`` (already parsed) and return CGCS2000 (lon, lat)."""
    fx, fy = _number(names[0], x), _number(names[1], y)
    if crs.startswith("EPSG:"):
        transformer = _transformer(int(crs[5:]))
        if transformer.source_crs is not None and transformer.source_crs.is_geographic:
            _check_lonlat(fx, fy, names)
        lon, lat = transformer.transform(fx, fy)
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise InvalidInput(f"{names[0]},{names[1]}", f"a point valid in {crs}", value=f"{fx},{fy}",
                               details={"reason": "outside the area of the CRS"})
    else:
        _check_lonlat(fx, fy, names)
        lon, lat = convert(fx, fy, crs, "wgs84")
    _check_lonlat(lon, lat, names)
    return lon, lat


def _check_lonlat(lon: float, lat: float, names: tuple[str, str]) -> None:
    if not -180.0 <= lon <= 180.0:
        raise InvalidInput(names[0], "−180 ≤ lon ≤ 180 (degrees)", value=lon, details={"reason": "out of range"})
    if not -90.0 <= lat <= 90.0:
        raise InvalidInput(names[1], "−90 ≤ lat ≤ 90 (degrees)", value=lat, details={"reason": "out of range"})


def to_storage_many(xs: np.ndarray, ys: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised conversion of already finite numbers (the importer checks them row by row first)."""
    if crs.startswith("EPSG:"):
        lon, lat = _transformer(int(crs[5:])).transform(xs, ys)
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    pairs = [convert(float(x), float(y), crs, "wgs84") for x, y in zip(xs, ys, strict=True)]
    arr = np.array(pairs, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


_DISTRICTS_SQL = text(
    "SELECT p.i, d.code FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(x, y, i) "
    "LEFT JOIN LATERAL (SELECT code FROM districts "
    "WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4490)) ORDER BY code LIMIT 1) d ON true "
    "ORDER BY p.i"
)


def districts_of(conn: Connection, lons: list[float], lats: list[float]) -> list[str | None]:
    """District code (GB/T 2260) of each point, ``None`` where the point is outside the city."""
    if not lons:
        return []
    rows = conn.execute(_DISTRICTS_SQL, {"lons": list(map(float, lons)), "lats": list(map(float, lats))}).all()
    return [code for _, code in rows]


def district_of(conn: Connection, lon: float, lat: float, input_name: str = "location") -> str:
    """The district of a point, or :class:`OutsideCity` saying so."""
    code = districts_of(conn, [lon], [lat])[0]
    if code is None:
        raise OutsideCity(
            input_name, "a point inside one of the city's districts",
            f"the point ({lon:.6f}, {lat:.6f}) (CGCS2000) is outside the city: it lies in no district",
            f"位置 ({lon:.6f}, {lat:.6f})（CGCS2000）不在本市任何区县范围内",
            details={"reason": "outside the city", "lon": lon, "lat": lat},
        )
    return code
