"""Gaussian plume for a continuous point release, and its ground footprint on the map.

Model (Turner 1970; Crowl & Louvar, *Chemical Process Safety*, 3rd ed., ch. 5, continuous plume)::

    C(x, y, z) = Q / (2π u σy σz) · exp(−y² / 2σy²) · [exp(−(z − H)² / 2σz²) + exp(−(z + H)² / 2σz²)]

with total reflection at the ground (the image source at −H), σy/σz from Briggs (1973) for open
country ("rural") and urban terrain (Crowl & Louvar Table 5-3), and the Pasquill–Gifford class from
Turner's key (Workbook of Atmospheric Dispersion Estimates, 1970, Table 1). H is the release
height; no plume rise is added, so pass the effective height if buoyancy matters.

Limits the caller should know: the Briggs fits were made for 100 m – 10 km and 10-minute averages;
nearer or farther they are extrapolated (the result says so). Calm winds (< 0.5 m/s) are refused
because the model divides by u.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.errors import InvalidInput, require_number
from core.geo.coords import gk3_zone_epsg

if TYPE_CHECKING:
    from pyproj import Transformer

__all__ = [
    "BRIGGS_VALID_RANGE_M",
    "Footprint",
    "briggs_sigmas",
    "centreline_concentration",
    "concentration",
    "footprint",
    "ppm_to_mg_m3",
    "stability_class",
    "turner_class",
]

Stability = Literal["A", "B", "C", "D", "E", "F"]
Terrain = Literal["rural", "urban"]
STABILITY_CLASSES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")
TERRAINS: tuple[str, ...] = ("rural", "urban")
INSOLATIONS: tuple[str, ...] = ("strong", "moderate", "slight")
BRIGGS_VALID_RANGE_M = (100.0, 10_000.0)
WIND_RANGE_M_S = (0.5, 30.0)
MOLAR_VOLUME_L_25C = 24.45  # ideal gas at 25 °C and 101.325 kPa

# Turner (1970) Table 1. Rows: wind-speed bands at 10 m; columns: day insolation strong, moderate,
# slight; night ≥ 4/8 low cloud (or thin overcast); night ≤ 3/8 cloud. Turner leaves night at
# < 2 m/s blank; like Crowl & Louvar Table 5-1 we use F there, the most stable class Briggs covers.
_TURNER_BANDS: tuple[tuple[float, tuple[str, str, str, str, str]], ...] = (
    (2.0, ("A", "A-B", "B", "F", "F")),
    (3.0, ("A-B", "B", "C", "E", "F")),
    (5.0, ("B", "B-C", "C", "D", "E")),
    (6.0, ("C", "C-D", "D", "D", "D")),
    (math.inf, ("C", "D", "D", "D", "D")),
)

# Briggs (1973) coefficients, x in metres: sigma = a·x·(1 + b·x)^p.
_RURAL = {
    "A": ((0.22, 0.0001, -0.5), (0.20, 0.0, 1.0)),
    "B": ((0.16, 0.0001, -0.5), (0.12, 0.0, 1.0)),
    "C": ((0.11, 0.0001, -0.5), (0.08, 0.0002, -0.5)),
    "D": ((0.08, 0.0001, -0.5), (0.06, 0.0015, -0.5)),
    "E": ((0.06, 0.0001, -0.5), (0.03, 0.0003, -1.0)),
    "F": ((0.04, 0.0001, -0.5), (0.016, 0.0003, -1.0)),
}
_URBAN = {
    "A": ((0.32, 0.0004, -0.5), (0.24, 0.001, 0.5)),
    "B": ((0.32, 0.0004, -0.5), (0.24, 0.001, 0.5)),
    "C": ((0.22, 0.0004, -0.5), (0.20, 0.0, 1.0)),
    "D": ((0.16, 0.0004, -0.5), (0.14, 0.0003, -0.5)),
    "E": ((0.11, 0.0004, -0.5), (0.08, 0.0015, -0.5)),
    "F": ((0.11, 0.0004, -0.5), (0.08, 0.0015, -0.5)),
}


def turner_class(
    wind_speed_m_s: float,
    *,
    daytime: bool,
    insolation: str | None = None,
    cloud_cover_oktas: float | None = None,
) -> str:
    """Turner's key entry, possibly a pair such as ``"A-B"``.

    Daytime needs ``insolation`` (strong/moderate/slight); night needs ``cloud_cover_oktas`` (0–8).
    A fully overcast sky (8/8) gives D by day or night, as Turner prescribes.
    Bands: u < 2, 2 ≤ u < 3, 3 ≤ u < 5, 5 ≤ u < 6, u ≥ 6 m/s.
    """
    u = require_number("wind_speed_m_s", wind_speed_m_s, minimum=0.0, maximum=WIND_RANGE_M_S[1], unit="m/s")
    cloud = None
    if cloud_cover_oktas is not None:
        cloud = require_number("cloud_cover_oktas", cloud_cover_oktas, minimum=0.0, maximum=8.0, unit="oktas")
        if cloud >= 8.0:
            return "D"
    if daytime:
        if insolation not in INSOLATIONS:
            raise InvalidInput(
                "insolation", "one of strong, moderate, slight (required by day)", value=insolation
            )
        column = INSOLATIONS.index(insolation)
    else:
        if cloud is None:
            raise InvalidInput("cloud_cover_oktas", "0 ≤ cloud_cover_oktas ≤ 8 oktas (required at night)")
        column = 3 if cloud >= 4.0 else 4
    row = next(classes for upper, classes in _TURNER_BANDS if u < upper)
    return row[column]


def stability_class(
    wind_speed_m_s: float,
    *,
    daytime: bool,
    insolation: str | None = None,
    cloud_cover_oktas: float | None = None,
) -> Stability:
    """Single Pasquill–Gifford letter: Turner's key, with a pair resolved to its more stable letter.

    Taking the more stable letter of "A-B" etc. gives the narrower, more concentrated plume, which
    is the conservative side for ground-level releases, the usual case in an emergency.
    """
    entry = turner_class(
        wind_speed_m_s, daytime=daytime, insolation=insolation, cloud_cover_oktas=cloud_cover_oktas
    )
    return entry.split("-")[-1]  # type: ignore[return-value]  # the key holds only A–F


def _check_class(stability: str, terrain: str) -> tuple[str, str]:
    s = stability.strip().upper() if isinstance(stability, str) else stability
    if s not in STABILITY_CLASSES:
        raise InvalidInput("stability", "one of A, B, C, D, E, F (Pasquill–Gifford)", value=stability)
    t = terrain.strip().lower() if isinstance(terrain, str) else terrain
    if t not in TERRAINS:
        raise InvalidInput("terrain", "one of rural (open country), urban", value=terrain)
    return s, t


def briggs_sigmas(x_m: ArrayLike, stability: str, terrain: str = "rural") -> tuple[NDArray, NDArray]:
    """(σy, σz) in metres at downwind distance(s) ``x_m`` > 0 (Briggs 1973)."""
    s, t = _check_class(stability, terrain)
    (ay, by, py), (az, bz, pz) = (_RURAL if t == "rural" else _URBAN)[s]
    x = np.asarray(x_m, dtype=float)
    sigma_y = ay * x * (1.0 + by * x) ** py
    # The (1 + 0·x)^1 rows are plain linear laws; numpy handles them identically.
    sigma_z = az * x * (1.0 + bz * x) ** pz
    return sigma_y, sigma_z


def _plume(q: float, u: float, x: NDArray, y: NDArray, z: float, h: float, s: str, t: str) -> NDArray:
    x = np.asarray(x, dtype=float)
    out = np.zeros(np.broadcast(x, y).shape)
    down = x > 0.0
    if not np.any(down):
        return out
    xd = np.broadcast_to(x, out.shape)[down]
    yd = np.broadcast_to(y, out.shape)[down]
    sy, sz = briggs_sigmas(xd, s, t)
    vertical = np.exp(-((z - h) ** 2) / (2 * sz**2)) + np.exp(-((z + h) ** 2) / (2 * sz**2))
    out[down] = q / (2 * math.pi * u * sy * sz) * np.exp(-(yd**2) / (2 * sy**2)) * vertical
    return out


def _check_common(q: float, u: float, h: float, z: float) -> tuple[float, float, float, float]:
    q = require_number("release_rate_g_s", q, minimum=0.0, maximum=1e7, exclusive_minimum=True, unit="g/s")
    u = require_number("wind_speed_m_s", u, minimum=WIND_RANGE_M_S[0], maximum=WIND_RANGE_M_S[1], unit="m/s")
    h = require_number("release_height_m", h, minimum=0.0, maximum=500.0, unit="m")
    z = require_number("receptor_z_m", z, minimum=0.0, maximum=1000.0, unit="m")
    return q, u, h, z


def concentration(
    release_rate_g_s: float,
    wind_speed_m_s: float,
    receptor_x_m: float,
    receptor_y_m: float = 0.0,
    receptor_z_m: float = 0.0,
    *,
    stability: str,
    terrain: str = "rural",
    release_height_m: float = 0.0,
) -> float:
    """Concentration in g/m³ at a receptor (x downwind, y crosswind, z above ground), all in metres.

    Upwind receptors (x ≤ 0) get 0: the model has no upwind diffusion.
    """
    q, u, h, z = _check_common(release_rate_g_s, wind_speed_m_s, release_height_m, receptor_z_m)
    s, t = _check_class(stability, terrain)
    x = require_number("receptor_x_m", receptor_x_m, minimum=-100_000.0, maximum=100_000.0, unit="m")
    y = require_number("receptor_y_m", receptor_y_m, minimum=-100_000.0, maximum=100_000.0, unit="m")
    return float(_plume(q, u, np.asarray(x), np.asarray(y), z, h, s, t))


def centreline_concentration(
    release_rate_g_s: float,
    wind_speed_m_s: float,
    x_m: ArrayLike,
    *,
    stability: str,
    terrain: str = "rural",
    release_height_m: float = 0.0,
    receptor_z_m: float = 0.0,
) -> NDArray:
    """Vectorised C(x, 0, z) in g/m³ for an array of downwind distances."""
    q, u, h, z = _check_common(release_rate_g_s, wind_speed_m_s, release_height_m, receptor_z_m)
    s, t = _check_class(stability, terrain)
    return _plume(q, u, np.asarray(x_m, dtype=float), np.zeros(1), z, h, s, t)


def ppm_to_mg_m3(ppm: float, molar_mass_g_mol: float) -> float:
    """ppm (by volume) → mg/m³ at 25 °C and 101.325 kPa (molar volume 24.45 L/mol)."""
    ppm = require_number("threshold_ppm", ppm, minimum=0.0, maximum=1e6, exclusive_minimum=True, unit="ppm")
    m = require_number("molar_mass_g_mol", molar_mass_g_mol, minimum=1.0, maximum=1000.0, unit="g/mol")
    return ppm * m / MOLAR_VOLUME_L_25C


@dataclass(frozen=True)
class Footprint:
    """Area where the concentration at ``receptor_z_m`` exceeds the threshold."""

    rings_lonlat: list[list[tuple[float, float]]]  # exterior rings, EPSG:4490, (lon, lat), closed
    x_min_m: float
    x_max_m: float
    max_half_width_m: float
    area_m2: float
    epsg_metric: int
    truncated: bool  # still above threshold at max_distance_m
    notes: list[str] = field(default_factory=list)


@lru_cache(maxsize=32)
def _transformers(epsg: int) -> tuple[Transformer, Transformer]:
    # Imported here, and cached, so that importing the module stays cheap and free of PROJ set-up.
    from pyproj import Transformer

    to_metric = Transformer.from_crs(4490, epsg, always_xy=True)
    to_geographic = Transformer.from_crs(epsg, 4490, always_xy=True)
    return to_metric, to_geographic


def _grid_azimuth(lon: float, lat: float, true_azimuth_deg: float, epsg: int) -> float:
    """Azimuth in the Gauss-Krüger grid for a true azimuth at (lon, lat): corrects meridian convergence."""
    from pyproj import Geod

    to_metric, _ = _transformers(epsg)
    lon2, lat2, _ = Geod(ellps="GRS80").fwd(lon, lat, true_azimuth_deg, 1000.0)
    (e1, e2), (n1, n2) = to_metric.transform([lon, lon2], [lat, lat2])
    return math.degrees(math.atan2(e2 - e1, n2 - n1))


def _intervals_above(
    x: NDArray, c: NDArray, threshold: float, f: Callable[[float], NDArray]
) -> list[tuple[float, float]]:
    """Downwind intervals where ``c > threshold``, ends refined by Brent's method on ``f``."""
    from scipy.optimize import brentq

    above = c > threshold
    intervals: list[tuple[float, float]] = []
    i = 0
    while i < len(x):
        if not above[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(x) and above[j + 1]:
            j += 1
        g = lambda v: float(np.ravel(f(v))[0]) - threshold  # noqa: E731
        lo = x[i] if i == 0 else brentq(g, x[i - 1], x[i], xtol=1e-3)
        hi = x[j] if j == len(x) - 1 else brentq(g, x[j], x[j + 1], xtol=1e-3)
        intervals.append((float(lo), float(hi)))
        i = j + 1
    return intervals


def footprint(
    *,
    source_lon: float,
    source_lat: float,
    wind_from_deg: float,
    threshold_g_m3: float,
    release_rate_g_s: float,
    wind_speed_m_s: float,
    stability: str,
    terrain: str = "rural",
    release_height_m: float = 0.0,
    receptor_z_m: float = 0.0,
    max_distance_m: float = 50_000.0,
    samples: int = 160,
) -> Footprint:
    """Footprint polygon(s) of C ≥ threshold, computed in the CGCS2000 3° GK zone and returned in 4490.

    ``wind_from_deg`` is meteorological: the direction the wind blows FROM, degrees clockwise from
    true north; the plume travels towards ``wind_from_deg + 180``.
    """
    q, u, h, z = _check_common(release_rate_g_s, wind_speed_m_s, release_height_m, receptor_z_m)
    s, t = _check_class(stability, terrain)
    lat = require_number("source.lat", source_lat, minimum=-90.0, maximum=90.0, unit="°")
    lon = require_number("source.lon", source_lon, minimum=-180.0, maximum=180.0, unit="°")
    wind_from = require_number("wind_direction_deg", wind_from_deg, minimum=0.0, maximum=360.0, unit="°")
    thr = require_number("threshold", threshold_g_m3, minimum=0.0, exclusive_minimum=True, unit="g/m³")
    x_cap = require_number("max_distance_m", max_distance_m, minimum=100.0, maximum=100_000.0, unit="m")
    epsg = gk3_zone_epsg(lon)

    def cl(x: ArrayLike) -> NDArray:
        return _plume(q, u, np.asarray(x, dtype=float), np.zeros(1), z, h, s, t)

    grid = np.geomspace(0.5, x_cap, 600)
    intervals = _intervals_above(grid, cl(grid), thr, cl)
    notes = []
    if not intervals:
        return Footprint([], 0.0, 0.0, 0.0, 0.0, epsg, False, ["threshold not reached anywhere downwind"])

    heading = _grid_azimuth(lon, lat, (wind_from + 180.0) % 360.0, epsg)
    down_e, down_n = math.sin(math.radians(heading)), math.cos(math.radians(heading))
    left_e, left_n = -down_n, down_e
    to_metric, to_geographic = _transformers(epsg)
    e0, n0 = to_metric.transform(lon, lat)

    rings: list[list[tuple[float, float]]] = []
    area, half_max = 0.0, 0.0
    for lo, hi in intervals:
        start = 0.0 if lo <= grid[0] else lo
        xs = np.geomspace(max(start, 0.5), hi, samples)
        ratio = np.maximum(cl(xs) / thr, 1.0)
        sy, _ = briggs_sigmas(xs, s, t)
        half = sy * np.sqrt(2.0 * np.log(ratio))
        half[-1] = 0.0
        half_max = max(half_max, float(half.max()))
        area += float(2.0 * np.sum(0.5 * (half[1:] + half[:-1]) * np.diff(xs)))
        if start > 0.0:
            half[0] = 0.0
            px, py = np.concatenate([xs, xs[-2:0:-1]]), np.concatenate([half, -half[-2:0:-1]])
        else:  # a ground-level plume is pinned to the source point itself
            px = np.concatenate([[0.0], xs, xs[-2::-1]])
            py = np.concatenate([[0.0], half, -half[-2::-1]])
        e = e0 + px * down_e + py * left_e
        n = n0 + px * down_n + py * left_n
        lons, lats = to_geographic.transform(e, n)
        ring = [(round(float(a), 7), round(float(b), 7)) for a, b in zip(lons, lats, strict=True)]
        ring.append(ring[0])
        rings.append(ring)

    x_min = 0.0 if intervals[0][0] <= grid[0] else intervals[0][0]
    x_max = intervals[-1][1]
    truncated = bool(x_max >= grid[-1] * (1 - 1e-9))
    if truncated:
        notes.append(
            f"concentration still above threshold at max_distance_m = {x_cap:g} m; footprint cut there"
        )
    lo_v, hi_v = BRIGGS_VALID_RANGE_M
    if x_max > hi_v or (x_min < lo_v and x_max > 0):
        notes.append("parts of the footprint lie outside 100 m–10 km, where Briggs σ are extrapolated")
    return Footprint(rings, x_min, x_max, half_max, area, epsg, truncated, notes)
