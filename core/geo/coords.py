"""Chinese web-map datums (GCJ-02, BD-09) and the CGCS2000 Gauss-Krüger zone helper.

GCJ-02 is the published "public" reimplementation of the GB 20263 obfuscation (Krasovsky 1940
semi-major axis, eccentricity² 0.00669342162296594323), as used by eviltransform and coordtransform.
Its inverse has no closed form, so it is solved by fixed-point iteration to ~1e-10° (≈ 0.01 mm),
far inside the 0.5 m the bureau needs. BD-09 (Baidu) is a further twist of GCJ-02; its textbook
inverse is itself approximate (a few metres), so it is refined the same way.

CGCS2000 and WGS-84 agree to a few centimetres, well below the accuracy of any of these offsets,
so "cgcs2000" is accepted as an alias of "wgs84".

"Outside China" is the usual rectangle (72.004–137.8347°E, 0.8293–55.8271°N) shared by the public
implementations; it deliberately errs on the inclusive side (it covers e.g. Taipei, Seoul's west,
parts of Mongolia) because that is what the web maps themselves do. Points outside it are returned
unchanged by every conversion, including BD-09.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from core.errors import InvalidInput, require_number

__all__ = [
    "SYSTEMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "convert_points",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "gk3_central_meridian",
    "gk3_zone_epsg",
    "haversine_m",
    "normalise_system",
    "out_of_china",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # Krasovsky first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0  # BD-09 constant
_INVERSE_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 50

#: Accepted system names → canonical name. cgcs2000 is an alias of wgs84 (see module docstring).
SYSTEMS: dict[str, str] = {"wgs84": "wgs84", "cgcs2000": "wgs84", "gcj02": "gcj02", "bd09": "bd09"}

_GK3_FIRST_EPSG = 4534  # CGCS2000 / 3-degree Gauss-Kruger CM 75E (no zone prefix in the easting)
_GK3_FIRST_CM = 75
_GK3_LAST_CM = 135
_GK3_LON_RANGE = (73.0, 136.5)


def normalise_system(name: object, input_name: str = "from") -> str:
    """Canonical system name for ``name`` (case-insensitive); raises InvalidInput for others."""
    allowed = "one of wgs84, cgcs2000 (alias of wgs84), gcj02, bd09"
    if not isinstance(name, str) or name.strip().lower().replace("-", "") not in SYSTEMS:
        raise InvalidInput(input_name, allowed, value=name)
    return SYSTEMS[name.strip().lower().replace("-", "")]


def out_of_china(lng: float, lat: float) -> bool:
    """True when the point lies outside the rectangle in which GCJ-02 is applied."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lng: float, lat: float) -> tuple[float, float]:
    """(dlng, dlat) in degrees that GCJ-02 adds to a WGS-84 point, ignoring the China test."""
    dlat = _transform_lat(lng - 105.0, lat - 35.0)
    dlng = _transform_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(radlat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * math.cos(radlat) * math.pi)
    return dlng, dlat


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02; points outside China are returned unchanged."""
    if out_of_china(lng, lat):
        return lng, lat
    dlng, dlat = _gcj_offset(lng, lat)
    return lng + dlng, lat + dlat


def _invert(
    forward: Callable[[float, float], tuple[float, float]],
    target_lng: float,
    target_lat: float,
    guess: tuple[float, float],
) -> tuple[float, float]:
    # The forward maps are the identity plus a slowly varying offset (Jacobian ≈ I), so
    # "subtract the residual" is a contraction and converges in a handful of steps.
    lng, lat = guess
    for _ in range(_MAX_ITERATIONS):
        f_lng, f_lat = forward(lng, lat)
        d_lng, d_lat = f_lng - target_lng, f_lat - target_lat
        lng, lat = lng - d_lng, lat - d_lat
        if abs(d_lng) < _INVERSE_TOLERANCE_DEG and abs(d_lat) < _INVERSE_TOLERANCE_DEG:
            break
    return lng, lat


def _gcj_forward_raw(lng: float, lat: float) -> tuple[float, float]:
    dlng, dlat = _gcj_offset(lng, lat)
    return lng + dlng, lat + dlat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → WGS-84 by iteration (error < 1e-9°); points outside China are returned unchanged."""
    if out_of_china(lng, lat):
        return lng, lat
    w_lng, w_lat = _invert(_gcj_forward_raw, lng, lat, (lng, lat))
    # A GCJ point just inside the rectangle can come from a WGS point just outside it, where the
    # forward map is the identity; then the identity is the consistent inverse.
    if out_of_china(w_lng, w_lat):
        return lng, lat
    return w_lng, w_lat


def _bd_encrypt(lng: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _bd_decrypt_approx(lng: float, lat: float) -> tuple[float, float]:
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → BD-09; points outside China are returned unchanged."""
    if out_of_china(lng, lat):
        return lng, lat
    return _bd_encrypt(lng, lat)


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """BD-09 → GCJ-02, refining the textbook approximate inverse by iteration."""
    if out_of_china(lng, lat):
        return lng, lat
    g_lng, g_lat = _invert(_bd_encrypt, lng, lat, _bd_decrypt_approx(lng, lat))
    if out_of_china(g_lng, g_lat):
        return lng, lat
    return g_lng, g_lat


def wgs84_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """WGS-84 → BD-09 (through GCJ-02)."""
    if out_of_china(lng, lat):
        return lng, lat
    return _bd_encrypt(*wgs84_to_gcj02(lng, lat))


def bd09_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """BD-09 → WGS-84 (through GCJ-02)."""
    if out_of_china(lng, lat):
        return lng, lat
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


_TO_WGS = {"wgs84": lambda x, y: (x, y), "gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS = {"wgs84": lambda x, y: (x, y), "gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def convert(lng: float, lat: float, from_system: str, to_system: str) -> tuple[float, float]:
    """Convert one point between wgs84/cgcs2000, gcj02 and bd09 (names as in :data:`SYSTEMS`)."""
    src, dst = normalise_system(from_system, "from"), normalise_system(to_system, "to")
    if src == dst:
        return lng, lat
    if {src, dst} == {"gcj02", "bd09"}:
        # Direct, so that gcj02↔bd09 does not pick up the tiny error of a WGS round trip.
        return gcj02_to_bd09(lng, lat) if src == "gcj02" else bd09_to_gcj02(lng, lat)
    return _FROM_WGS[dst](*_TO_WGS[src](lng, lat))


def _checked_point(index: int, point: object) -> tuple[float, float]:
    name = f"points[{index}]"
    if isinstance(point, (str, bytes)) or not isinstance(point, Sequence) or len(point) != 2:
        raise InvalidInput(name, "[lng, lat] pair of numbers, −180 ≤ lng ≤ 180, −90 ≤ lat ≤ 90", value=point)
    lng = require_number(f"{name}[0] (lng)", point[0], minimum=-180.0, maximum=180.0, unit="°")
    lat = require_number(f"{name}[1] (lat)", point[1], minimum=-90.0, maximum=90.0, unit="°")
    return lng, lat


def convert_points(
    points: Iterable[Sequence[float]], from_system: str, to_system: str, *, max_points: int = 100_000
) -> list[tuple[float, float]]:
    """Validate and convert ``[[lng, lat], ...]``; raises InvalidInput naming the bad point."""
    src, dst = normalise_system(from_system, "from"), normalise_system(to_system, "to")
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise InvalidInput("points", f"a list of 1..{max_points} [lng, lat] pairs", value=points)
    checked = [_checked_point(i, p) for i, p in enumerate(points)]
    if not 1 <= len(checked) <= max_points:
        raise InvalidInput("points", f"a list of 1..{max_points} [lng, lat] pairs", value=len(checked))
    return [convert(lng, lat, src, dst) for lng, lat in checked]


def gk3_central_meridian(lng: float) -> int:
    """Central meridian (°E) of the CGCS2000 3° Gauss-Krüger zone containing ``lng``.

    Zones are centred on multiples of 3° and change at the half-degrees (76.5°E, 79.5°E, ...),
    exactly as the EPSG areas of use of EPSG:4534–4554 do.
    """
    lo, hi = _GK3_LON_RANGE
    lng = require_number("lng", lng, minimum=lo, maximum=hi, unit="°E (CGCS2000 3° zones CM 75E–135E)")
    cm = 3 * math.floor((lng + 1.5) / 3.0)
    return min(max(cm, _GK3_FIRST_CM), _GK3_LAST_CM)


def gk3_zone_epsg(lng: float) -> int:
    """EPSG code (4534–4554, "CGCS2000 / 3-degree Gauss-Kruger CM nnnE") for metric work at ``lng``."""
    return _GK3_FIRST_EPSG + (gk3_central_meridian(lng) - _GK3_FIRST_CM) // 3


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres on a sphere of radius 6 371 008.8 m (good to ~0.5 %)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(min(1.0, h)))
