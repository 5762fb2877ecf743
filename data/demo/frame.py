"""Coordinate frame, seeded randomness and small geometric helpers shared by the demo-city generators.

Shapes are generated in a local metric frame (x east, y north, metres from 119.0°E 32.0°N) and mapped to
CGCS2000 lon/lat at the end. The mapping is affine (an equirectangular plate at the city's centre latitude),
so straight edges stay straight and point-in-polygon answers do not change between the two frames; its
distance error over the 0.6° × 0.4° city is under 0.5 %, which is irrelevant for synthetic shapes. Every
length that is stored (road ``length_m``) is computed on the ellipsoid instead.
"""

from __future__ import annotations

import zlib
from datetime import date, timedelta, timezone
from functools import cache

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import Polygon

SYNTHETIC_NOTICE = "示范市为虚构城市，数据均为合成数据 / 示范市 is a synthetic city; all data are synthetic"
CITY_NAME = "示范市"
#: lon_min, lat_min, lon_max, lat_max of the area the city is drawn in (eastern China, fictional).
EXTENT = (118.70, 31.80, 119.30, 32.20)
LON0, LAT0 = 119.0, 32.0
#: "Today" for the demo data (incident history, stock expiry); fixed so builds are reproducible.
REFERENCE_DATE = date(2026, 11, 28)
CHINA_TZ = timezone(timedelta(hours=8))
#: Phone numbers use area code 0329, which no Chinese city has, so a demo number can never ring anyone.
PHONE_AREA_CODE = "0329"


@cache
def geod() -> Geod:
    """The CGCS2000 ellipsoid (same a and 1/f as GRS 80)."""
    return Geod(a=6378137.0, rf=298.257222101)


@cache
def metres_per_degree() -> tuple[float, float]:
    """(metres per degree of longitude, of latitude) at the city centre."""
    g = geod()
    kx = g.inv(LON0 - 0.5, LAT0, LON0 + 0.5, LAT0)[2]
    ky = g.inv(LON0, LAT0 - 0.5, LON0, LAT0 + 0.5)[2]
    return kx, ky


def metric_extent() -> tuple[float, float, float, float]:
    kx, ky = metres_per_degree()
    lon_min, lat_min, lon_max, lat_max = EXTENT
    return ((lon_min - LON0) * kx, (lat_min - LAT0) * ky, (lon_max - LON0) * kx, (lat_max - LAT0) * ky)


def to_lonlat_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kx, ky = metres_per_degree()
    return LON0 + np.asarray(x, dtype=float) / kx, LAT0 + np.asarray(y, dtype=float) / ky


def to_metric_xy(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kx, ky = metres_per_degree()
    return (np.asarray(lon, dtype=float) - LON0) * kx, (np.asarray(lat, dtype=float) - LAT0) * ky


def to_lonlat[G: (shapely.Geometry, np.ndarray)](geoms: G) -> G:
    """Metric frame → lon/lat, for one geometry or an array of them."""
    kx, ky = metres_per_degree()
    scale, offset = np.array([1.0 / kx, 1.0 / ky]), np.array([LON0, LAT0])
    return shapely.transform(geoms, lambda c: c * scale + offset)


def to_metric[G: (shapely.Geometry, np.ndarray)](geoms: G) -> G:
    """Lon/lat → metric frame, for one geometry or an array of them."""
    kx, ky = metres_per_degree()
    scale, offset = np.array([kx, ky]), np.array([LON0, LAT0])
    return shapely.transform(geoms, lambda c: (c - offset) * scale)


def rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent stream per component, so changing how one layer draws never reshuffles another."""
    words = [seed & 0xFFFFFFFF, seed >> 32]
    words += [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(words)


def radial_blob(cx: float, cy: float, radius: float, rng: np.random.Generator, roughness: float = 0.18,
                stretch: float = 1.0, vertices: int = 96) -> Polygon:
    """A star-shaped, gently irregular blob (so it is always a valid polygon)."""
    theta = np.linspace(0.0, 2 * np.pi, vertices, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 7):
        r += roughness / (k - 1) * rng.uniform(0.3, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r = radius * np.clip(r, 0.35, None)
    rot = rng.uniform(0, np.pi)
    x, y = r * np.cos(theta) * stretch, r * np.sin(theta) / stretch
    xr, yr = x * np.cos(rot) - y * np.sin(rot), x * np.sin(rot) + y * np.cos(rot)
    return Polygon(np.column_stack([cx + xr, cy + yr]))


def sample_in(rng: np.random.Generator, area: shapely.Geometry, n: int,
              avoid: shapely.Geometry | None = None) -> np.ndarray:
    """n uniform points inside ``area`` (and outside ``avoid``), by rejection in vectorised batches."""
    minx, miny, maxx, maxy = area.bounds
    shapely.prepare(area)
    if avoid is not None:
        shapely.prepare(avoid)
    out: list[np.ndarray] = []
    got = 0
    while got < n:
        batch = max(64, 2 * (n - got))
        x, y = rng.uniform(minx, maxx, batch), rng.uniform(miny, maxy, batch)
        ok = shapely.contains_xy(area, x, y)
        if avoid is not None:
            ok &= ~shapely.contains_xy(avoid, x, y)
        pts = np.column_stack([x[ok], y[ok]])
        out.append(pts)
        got += len(pts)
    return np.concatenate(out)[:n]


def best_candidates(rng: np.random.Generator, area: shapely.Geometry, k: int, candidates: int = 24,
                    avoid: shapely.Geometry | None = None, fixed: np.ndarray | None = None) -> np.ndarray:
    """Mitchell's best-candidate sampling: k well-spread points, each the farthest of a few random tries."""
    chosen = [] if fixed is None else [tuple(p) for p in fixed]
    pool = sample_in(rng, area, k * candidates, avoid)
    picked = []
    for i in range(k):
        cand = pool[i * candidates:(i + 1) * candidates]
        if chosen:
            c = np.asarray(chosen)
            d = np.min(np.hypot(cand[:, None, 0] - c[None, :, 0], cand[:, None, 1] - c[None, :, 1]), axis=1)
            best = cand[int(np.argmax(d))]
        else:
            best = cand[0]
        chosen.append(tuple(best))
        picked.append(best)
    return np.asarray(picked)


def zh_number(n: int) -> str:
    """1 → 一, 12 → 十二, 105 → 一百零五 (up to 9999), for names such as 第十二网格."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    units = [(1000, "千"), (100, "百"), (10, "十")]
    out, zero = "", False
    for value, name in units:
        d = n // value % 10
        if d:
            if zero:
                out += "零"
            out += digits[d] + name
            zero = False
        elif out:
            zero = True
    if n % 10:
        out += ("零" if zero else "") + digits[n % 10]
    return out


def phone(rng: np.random.Generator, n: int) -> list[str]:
    """n fictional landline numbers (see PHONE_AREA_CODE)."""
    local = rng.integers(20_000_000, 89_999_999, n)
    return [f"{PHONE_AREA_CODE}-{v}" for v in local]

