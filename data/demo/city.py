"""``build_city``: the whole synthetic city 示范市 as rows ready for the database, and nothing else.

Pure and deterministic: no I/O, no clock, no environment; every random draw comes from a stream derived
from ``seed`` and the component's name, so the same (scale, seed) gives the same rows bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from data.demo.enterprises import build_enterprises
from data.demo.events import build_incidents
from data.demo.frame import SYNTHETIC_NOTICE, geod, phone, rng_for, to_lonlat, to_lonlat_xy
from data.demo.geography import Geography, build_geography
from data.demo.hazards import build_hazard_sources, build_video_points
from data.demo.names import person_names
from data.demo.places import Atlas
from data.demo.population import PopulationGrid, build_population, division_population
from data.demo.resources import (
    build_depots,
    build_experts,
    build_fire_stations,
    build_hospitals,
    build_rescue_teams,
)
from data.demo.roads import RoadNetwork, build_roads
from data.demo.targets import build_shelters, build_targets

DEFAULT_SEED = 20261128
#: Tables in an order that satisfies every foreign key when loaded front to back.
TABLE_ORDER = (
    "districts", "subdistricts", "grid_cells", "water", "industrial_parks", "roads", "enterprises",
    "sensitive_targets", "hazard_sources", "hazard_source_chemicals", "sensors", "video_points", "rescue_teams", "depots",
    "depot_inventory", "shelters", "experts", "hospitals", "fire_stations", "incidents",
)
_SEVERITY = ("blue", "yellow", "orange", "red")


@dataclass(frozen=True)
class City:
    """The generated city. ``tables`` maps table name → rows (every column but ``id``; geometries in lon/lat
    EPSG:4490; ``depot_inventory`` rows carry ``depot_index``, the position of their depot, not ``depot_id``)."""

    seed: int
    scale: int
    tables: dict[str, list[dict[str, Any]]]
    population: PopulationGrid
    boundary: Polygon  # lon/lat
    notice: str = field(default=SYNTHETIC_NOTICE)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(lon_min, lat_min, lon_max, lat_max) of the city boundary."""
        return tuple(self.boundary.bounds)

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}


def build_city(scale: int = 1, seed: int = DEFAULT_SEED) -> City:
    """Generate 示范市. ``scale`` multiplies the point layers and the road network (scale 20: 100,000 firms)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    geo = build_geography(seed)
    roads = build_roads(rng_for(seed, "roads"), geo, scale)
    population = build_population(rng_for(seed, "population"), geo)
    atlas = Atlas(geo, roads, population)

    targets = build_targets(rng_for(seed, "sensitive_targets"), atlas, scale)
    firms = build_enterprises(rng_for(seed, "enterprises"), atlas, scale)
    occupied = ~targets.residential
    hazards = build_hazard_sources(rng_for(seed, "hazard_sources"), atlas, firms, targets.xy[occupied],
                                   targets.population[occupied], scale)
    _raise_risk_of_hazard_hosts(firms.rows, hazards.rows)
    depots, inventory = build_depots(rng_for(seed, "depots"), atlas, firms, scale)

    tables: dict[str, list[dict[str, Any]]] = {
        **_division_tables(seed, geo, population),
        "roads": _road_rows(roads),
        "enterprises": firms.rows,
        "sensitive_targets": targets.rows,
        "hazard_sources": hazards.rows,
        "hazard_source_chemicals": hazards.chemicals,
        "sensors": hazards.sensors,
        "video_points": build_video_points(rng_for(seed, "video_points"), atlas, hazards),
        "rescue_teams": build_rescue_teams(rng_for(seed, "rescue_teams"), atlas, scale),
        "depots": depots,
        "depot_inventory": inventory,
        "shelters": build_shelters(rng_for(seed, "shelters"), atlas, scale),
        "experts": build_experts(rng_for(seed, "experts"), atlas, scale),
        "hospitals": build_hospitals(rng_for(seed, "hospitals"), atlas, scale),
        "fire_stations": build_fire_stations(rng_for(seed, "fire_stations"), atlas, scale),
        "incidents": build_incidents(rng_for(seed, "incidents"), atlas, firms, scale),
    }
    return City(seed, scale, {name: tables[name] for name in TABLE_ORDER}, population, to_lonlat(geo.boundary))


def _multi(g: Polygon | MultiPolygon) -> MultiPolygon:
    return g if isinstance(g, MultiPolygon) else MultiPolygon([g])


def _division_tables(seed: int, geo: Geography, population: PopulationGrid) -> dict[str, list[dict[str, Any]]]:
    rng = rng_for(seed, "grid_workers")
    residents = division_population(population, [d.geom for d in geo.districts])
    workers, phones = person_names(rng, len(geo.grid_cells)), phone(rng, len(geo.grid_cells))
    district_of = {s.code: s.parent_code for s in geo.subdistricts}
    return {
        "districts": [{"code": d.code, "name": d.name, "population": p, "geom": _multi(to_lonlat(d.geom))}
                      for d, p in zip(geo.districts, residents, strict=True)],
        "subdistricts": [{"code": s.code, "name": s.name, "district_code": s.parent_code,
                          "geom": _multi(to_lonlat(s.geom))} for s in geo.subdistricts],
        "grid_cells": [{"code": c.code, "name": c.name, "district_code": district_of[c.parent_code],
                        "subdistrict_code": c.parent_code, "grid_worker": w, "grid_worker_phone": ph,
                        "geom": to_lonlat(c.geom)} for c, w, ph in zip(geo.grid_cells, workers, phones, strict=True)],
        "water": [{"name": w.name, "kind": w.kind, "geom": _multi(to_lonlat(w.geom))} for w in geo.waters],
        "industrial_parks": [{"code": p.code, "name": p.name, "level": p.level, "district_code": p.district_code,
                              "geom": _multi(to_lonlat(p.geom))} for p in geo.parks],
    }


def _road_rows(roads: RoadNetwork) -> list[dict[str, Any]]:
    lon, lat = to_lonlat_xy(roads.node_xy[:, 0], roads.node_xy[:, 1])
    s, t = roads.source, roads.target
    # Built from the shared node coordinates, so each line starts and ends exactly on its nodes.
    lines = shapely.linestrings(np.stack([np.column_stack([lon[s], lat[s]]), np.column_stack([lon[t], lat[t]])],
                                         axis=1))
    length = geod().inv(lon[s], lat[s], lon[t], lat[t])[2]
    cost = length / (roads.speed_kmh / 3.6)
    reverse = np.where(roads.oneway, -1.0, cost)
    return [
        {"name": roads.name[i], "road_class": roads.road_class[i], "speed_kmh": float(roads.speed_kmh[i]),
         "oneway": bool(roads.oneway[i]), "source": int(s[i]) + 1, "target": int(t[i]) + 1,
         "length_m": float(length[i]), "cost_s": float(cost[i]), "reverse_cost_s": float(reverse[i]),
         "geom": lines[i]}
        for i in range(len(roads))
    ]


def _raise_risk_of_hazard_hosts(firms: list[dict], hazards: list[dict]) -> None:
    """A firm holding a major hazard source is at least orange, and red when one of them is grade 1."""
    by_uscc = {f["uscc"]: f for f in firms}
    for h in hazards:
        firm = by_uscc[h["enterprise_uscc"]]
        floor = "red" if h["grade"] == 1 else "orange"
        if _SEVERITY.index(firm["risk_colour"]) < _SEVERITY.index(floor):
            firm["risk_colour"] = floor
