"""The zones of an impact analysis, from the consequence models (no database, no Flask).

* Toxic release → Gaussian plume (:mod:`emergency.consequence.plume`): one footprint per concentration level
  (IDLH / AEGL-2 / AEGL-1 of :mod:`emergency.impact.chemicals`, or levels the caller gives), the release at the
  incident's point.
* Explosion → TNT-equivalent overpressure rings (:mod:`emergency.consequence.vce`) at its damage thresholds.

Zones are returned strongest first and do not overlap: each is its level's footprint minus the stronger levels'
(for a plume, a higher concentration contour lies inside a lower one, so the zones are nested rings, like the
explosion's disc and annuli). ``extent`` is the whole footprint of a level; the last zone's extent is the whole
affected area (the evacuation area). Geometries are EPSG:4490 lon/lat, snapped to 1e-7° (~1 cm) and valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from core.errors import InvalidInput, require_number
from emergency.consequence import plume, vce
from emergency.impact.chemicals import Chemical

GRID = 1e-7
MAX_LEVELS = 5
MAX_DISTANCE_M = 50_000.0
DEFAULT_MAX_DISTANCE_M = 20_000.0


@dataclass(frozen=True)
class ImpactZone:
    key: str
    label_zh: str
    label_en: str
    threshold: dict[str, Any]  # {"ppm", "mg_m3"} or {"overpressure_kpa"}
    source: str
    area: BaseGeometry  # this zone only (its footprint minus the stronger ones)
    extent: BaseGeometry  # the whole footprint of this level


def _clean(geom: BaseGeometry) -> BaseGeometry:
    """Snapped to the 1e-7° grid, valid, and polygonal only (a repair or a difference may leave slivers as lines
    or points, which are no area)."""
    # set_precision refuses an invalid input (GEOS: "side location conflict"): repair first, and after snapping
    snapped = shapely.set_precision(geom if geom.is_valid else shapely.make_valid(geom), GRID)
    valid = snapped if snapped.is_valid else shapely.make_valid(snapped)
    if valid.geom_type in ("Polygon", "MultiPolygon"):
        return valid
    parts = [p for p in shapely.get_parts(valid) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _nest(levels: list[tuple[str, str, str, dict[str, Any], str, BaseGeometry]]) -> list[ImpactZone]:
    zones, inner = [], None
    for key, zh, en, threshold, source, extent in levels:
        extent = _clean(extent)
        area = extent if inner is None or inner.is_empty else _clean(shapely.difference(extent, inner))
        zones.append(ImpactZone(key, zh, en, threshold, source, area, extent))
        inner = extent if inner is None else _clean(shapely.union(inner, extent))
    return zones


@dataclass(frozen=True)
class PlumeLevel:
    key: str
    label_zh: str
    label_en: str
    mg_m3: float
    ppm: float | None
    source: str


def chemical_levels(chemical: Chemical) -> list[PlumeLevel]:
    return [PlumeLevel(lv.key, lv.label_zh, lv.label_en, plume.ppm_to_mg_m3(lv.ppm, chemical.molar_mass_g_mol),
                       lv.ppm, lv.source) for lv in chemical.levels]


def parse_levels(value: Any, molar_mass: float | None) -> list[PlumeLevel]:
    """``thresholds``: 1–5 of ``{"level": name, "ppm": x}`` or ``{"level": name, "mg_m3": x}`` (ppm needs the
    chemical's molar mass). Sorted strongest first; names must differ."""
    allowed = f"1–{MAX_LEVELS} objects {{level, ppm | mg_m3}}"
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LEVELS:
        raise InvalidInput("thresholds", allowed, value=value if isinstance(value, (str, int, float)) else None)
    out: list[PlumeLevel] = []
    for i, item in enumerate(value):
        name = f"thresholds[{i}]"
        if not isinstance(item, dict) or not set(item) <= {"level", "ppm", "mg_m3"}:
            raise InvalidInput(name, "an object with level and one of ppm, mg_m3", details={"reason": "shape"})
        level = item.get("level")
        if not isinstance(level, str) or not 1 <= len(level.strip()) <= 40 or "\x00" in level:
            raise InvalidInput(f"{name}.level", "a name of 1–40 characters", value=level if isinstance(level, str) else None)
        if ("ppm" in item) == ("mg_m3" in item):
            raise InvalidInput(name, "exactly one of ppm, mg_m3", details={"reason": "ppm or mg_m3"})
        if "ppm" in item:
            ppm = require_number(f"{name}.ppm", item["ppm"], minimum=0.0, maximum=1e6, exclusive_minimum=True,
                                 unit="ppm")
            if molar_mass is None:
                raise InvalidInput("molar_mass_g_mol", "the molar mass (1..1000 g/mol), needed for thresholds in ppm",
                                   details={"reason": "required"})
            mg = plume.ppm_to_mg_m3(ppm, molar_mass)
        else:
            ppm = None
            mg = require_number(f"{name}.mg_m3", item["mg_m3"], minimum=0.0, maximum=1e9, exclusive_minimum=True,
                                unit="mg/m³")
        out.append(PlumeLevel(level.strip(), level.strip(), level.strip(), mg, ppm, "caller-supplied"))
    if len({lv.key for lv in out}) != len(out):
        raise InvalidInput("thresholds", "levels with different names", details={"reason": "duplicate level"})
    return sorted(out, key=lambda lv: -lv.mg_m3)


def plume_zones(lon: float, lat: float, levels: list[PlumeLevel], *, release_rate_g_s: float,
                wind_speed_m_s: float, wind_from_deg: float, stability: str, terrain: str,
                release_height_m: float, max_distance_m: float) -> tuple[list[ImpactZone], list[str]]:
    """Zones strongest first (levels not reached anywhere are left out) and the model's notes."""
    found, notes = [], []
    for lv in levels:
        fp = plume.footprint(source_lon=lon, source_lat=lat, wind_from_deg=wind_from_deg,
                             threshold_g_m3=lv.mg_m3 / 1000.0, release_rate_g_s=release_rate_g_s,
                             wind_speed_m_s=wind_speed_m_s, stability=stability, terrain=terrain,
                             release_height_m=release_height_m, max_distance_m=max_distance_m)
        notes += [f"{lv.key}: {n}" for n in fp.notes]
        if not fp.rings_lonlat:
            continue
        extent = shapely.union_all([shapely.make_valid(Polygon(r)) for r in fp.rings_lonlat])
        threshold = {"mg_m3": round(lv.mg_m3, 6), "ppm": lv.ppm}
        found.append((lv.key, lv.label_zh, lv.label_en, threshold, lv.source, extent))
    return _nest(found), notes


def explosion_zones(lon: float, lat: float, tnt_kg: float,
                    thresholds_kpa: dict[str, float] | None) -> list[ImpactZone]:
    levels = []
    for zn in vce.overpressure_zones(lon, lat, tnt_kg, thresholds_kpa):
        extent = Polygon(zn.exterior)
        levels.append((zn.key, zn.label_zh, zn.label_en,
                       {"overpressure_kpa": round(zn.overpressure_kpa, 3), "radius_m": round(zn.radius_m, 1)},
                       zn.source, extent))
    return _nest(levels)
