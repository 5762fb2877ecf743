"""The physical city: boundary, water, divisions, chemical parks and an "urbanness" field.

The urbanness field (0 … ~1.5) drives everything that should cluster: road density, residents, shops and
offices. It peaks at the city core, at each district's centre and at each subdistrict's seat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from data.demo.divisions import Division, build_divisions
from data.demo.frame import metric_extent, radial_blob, rng_for, sample_in

RIVER_HALF_WIDTH_M = 160.0  # the main river is ~320 m wide
TRIBUTARY_HALF_WIDTH_M = 35.0
WATER_NAMES = ("示范江", "示范北河", "示范东河", "示范南河")
LAKE_NAMES = ("示范湖", "示范东湖", "示范西湖", "示范月湖")
RESERVOIR_NAME = "示范水库"
PARKS = (  # level, area km², name after the district's short name
    ("national", 14.0, "化学工业园区"),
    ("provincial", 7.0, "精细化工园区"),
    ("municipal", 4.0, "化工集中区"),
)


@dataclass
class Water:
    name: str
    kind: str  # river, lake, reservoir
    geom: Polygon | MultiPolygon


@dataclass
class Park:
    code: str
    name: str
    level: str
    district_code: str
    geom: Polygon


@dataclass
class Geography:
    boundary: Polygon
    river_line: LineString
    waters: list[Water]
    districts: list[Division]
    subdistricts: list[Division]
    grid_cells: list[Division]
    parks: list[Park]
    core: tuple[float, float]
    centres: np.ndarray  # (k, 4): x, y, weight, sigma
    water_union: shapely.Geometry = field(init=False)
    main_river: shapely.Geometry = field(init=False)
    standing_water: shapely.Geometry = field(init=False)
    parks_union: shapely.Geometry = field(init=False)
    lake_margin: shapely.Geometry = field(init=False)  # lakes grown by 120 m: arterials keep this clear

    def __post_init__(self) -> None:
        self.water_union = shapely.union_all([w.geom for w in self.waters])
        self.main_river = self.waters[0].geom
        self.standing_water = shapely.union_all([w.geom for w in self.waters if w.kind != "river"])
        self.parks_union = shapely.union_all([p.geom for p in self.parks])
        self.lake_margin = self.standing_water.buffer(120)
        for g in (self.water_union, self.main_river, self.standing_water, self.parks_union, self.boundary,
                  self.lake_margin):
            shapely.prepare(g)

    def urbanness(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return urbanness(self.centres, x, y)

    def in_water(self, x: np.ndarray, y: np.ndarray, margin: float = 0.0) -> np.ndarray:
        if margin <= 0:
            return shapely.contains_xy(self.water_union, x, y)
        return shapely.dwithin(self.water_union, shapely.points(x, y), margin)

    def in_city(self, x: np.ndarray, y: np.ndarray, margin: float = 0.0) -> np.ndarray:
        inside = shapely.contains_xy(self.boundary, x, y)
        if margin > 0:
            inside &= ~shapely.dwithin(self.boundary.exterior, shapely.points(x, y), margin)
        return inside


def urbanness(centres: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A small countryside floor plus a Gaussian bump per centre (x, y, weight, sigma)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    u = np.full(x.shape, 0.015)
    for cx, cy, w, s in centres:
        u += w * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    return u


def build_geography(seed: int) -> Geography:
    rng = rng_for(seed, "geography")
    boundary = _boundary(rng)
    river_line = _river_line(rng)
    cx = float(rng.uniform(-6000, 2000))
    core = (cx, _river_y(river_line, cx) + float(rng.uniform(2500, 4000)))
    waters = [Water(WATER_NAMES[0], "river", boundary.intersection(
        river_line.buffer(RIVER_HALF_WIDTH_M, cap_style="flat")))]
    for name, line in zip(WATER_NAMES[1:], _tributaries(rng, boundary, river_line, core), strict=False):
        waters.append(Water(name, "river", boundary.intersection(line.buffer(TRIBUTARY_HALF_WIDTH_M))))
    waters.extend(_lakes(rng, boundary, river_line, waters, core))
    water = shapely.union_all([w.geom for w in waters])
    shapely.prepare(water)

    districts, subdistricts, cells = build_divisions(rng_for(seed, "divisions"), boundary, core,
                                                     water.buffer(150))
    centres = [(core[0], core[1], 1.0, 4500.0)]
    centres += [(d.seed[0], d.seed[1], 0.45, 2500.0) for d in districts[1:]]
    centres += [(s.seed[0], s.seed[1], 0.3 if s.urban else 0.15, 1200.0 if s.urban else 900.0)
                for s in subdistricts]
    centres = np.asarray(centres)
    parks = _parks(rng_for(seed, "parks"), boundary, water, river_line, core, districts, subdistricts, centres)
    return Geography(boundary, river_line, waters, districts, subdistricts, cells, parks, core, centres)


def _boundary(rng: np.random.Generator) -> Polygon:
    """An irregular oval filling most of the 0.6° × 0.4° extent."""
    minx, miny, maxx, maxy = metric_extent()
    cx, cy, rx, ry = (minx + maxx) / 2, (miny + maxy) / 2, (maxx - minx) / 2, (maxy - miny) / 2
    theta = np.linspace(0, 2 * np.pi, 480, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 12):
        r += 0.09 / k ** 0.7 * rng.uniform(0.4, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r = r / r.max() * 1.06
    ring = Polygon(np.column_stack([cx + rx * r * np.cos(theta), cy + ry * r * np.sin(theta)]))
    return ring.intersection(box(minx + 300, miny + 300, maxx - 300, maxy - 300))


def _river_line(rng: np.random.Generator) -> LineString:
    """The main river's centre line: west to east, rising gently to the north-east, meandering."""
    minx, _, maxx, _ = metric_extent()
    x = np.arange(minx - 3000, maxx + 3000, 200.0)
    y0, slope = rng.uniform(-7000, -3000), rng.uniform(0.12, 0.22)
    a1, l1, p1 = rng.uniform(1500, 2500), rng.uniform(18_000, 26_000), rng.uniform(0, 2 * np.pi)
    a2, l2, p2 = rng.uniform(400, 800), rng.uniform(6_000, 9_000), rng.uniform(0, 2 * np.pi)
    y = y0 + slope * x + a1 * np.sin(2 * np.pi * x / l1 + p1) + a2 * np.sin(2 * np.pi * x / l2 + p2)
    return LineString(np.column_stack([x, y]))


def _river_y(line: LineString, x: float) -> float:
    coords = shapely.get_coordinates(line)
    return float(np.interp(x, coords[:, 0], coords[:, 1]))


def _tributaries(rng: np.random.Generator, boundary: Polygon, river: LineString,
                 core: tuple[float, float]) -> list[LineString]:
    """Three streams from the city edge (two from the north, one from the south) into the main river."""
    minx, miny, maxx, maxy = metric_extent()
    out: list[LineString] = []
    slots = [(minx + 6000, -12_000, maxy + 2000), (4_000, maxx - 6000, maxy + 2000), (-15_000, 15_000, miny - 2000)]
    for lo, hi, y_start in slots:
        for _ in range(50):
            x0 = rng.uniform(lo, hi)
            x1 = x0 + rng.uniform(-5000, 5000)
            start, end = np.array([x0, y_start]), np.array([x1, _river_y(river, x1)])
            t = np.linspace(0, 1, 80)
            d = end - start
            normal = np.array([-d[1], d[0]]) / np.hypot(*d)
            wiggle = rng.uniform(500, 1200) * np.sin(np.pi * t * rng.integers(2, 5) + rng.uniform(0, 6)) * np.sin(
                np.pi * t)
            pts = start + np.outer(t, d) + np.outer(wiggle, normal)
            line = LineString(pts)
            if line.distance(Point(core)) > 1500 and not any(line.intersects(o) for o in out):
                out.append(line)
                break
    return out


def _lakes(rng: np.random.Generator, boundary: Polygon, river: LineString, rivers: list[Water],
           core: tuple[float, float]) -> list[Water]:
    """Four lakes and a reservoir, clear of the rivers, of each other and of the very centre."""
    streams = shapely.union_all([w.geom for w in rivers])
    inner = boundary.buffer(-3500)
    out: list[Water] = []
    specs = [(name, "lake", rng.uniform(1.5, 9.0)) for name in LAKE_NAMES] + [(RESERVOIR_NAME, "reservoir", 5.0)]
    for name, kind, area_km2 in specs:
        radius = np.sqrt(area_km2 * 1e6 / np.pi)
        for _ in range(400):
            x, y = sample_in(rng, inner, 1)[0]
            if kind == "reservoir" and np.hypot(x - core[0], y - core[1]) < 18_000:
                continue
            blob = radial_blob(x, y, radius, rng, roughness=0.28, stretch=rng.uniform(0.8, 1.3))
            if (blob.distance(streams) > 800 and blob.distance(Point(core)) > 1500
                    and all(blob.distance(o.geom) > 2000 for o in out) and inner.contains(blob)):
                out.append(Water(name, kind, blob))
                break
    return out


def _parks(rng: np.random.Generator, boundary: Polygon, water: shapely.Geometry, river_line: LineString,
           core: tuple[float, float], districts: list[Division], subdistricts: list[Division],
           centres: np.ndarray) -> list[Park]:
    """Three chemical parks in three suburban districts, on cheap land away from the centre.

    The national park sits on the main river (chemical parks need a wharf); each park keeps 80 m from
    water and stays strictly inside its district.
    """
    parks: list[Park] = []
    used: set[str] = {districts[0].code}
    candidates = sample_in(rng, boundary.buffer(-3000), 3000, avoid=water.buffer(1500))
    u = urbanness(centres, candidates[:, 0], candidates[:, 1])
    d_core = np.hypot(candidates[:, 0] - core[0], candidates[:, 1] - core[1])
    d_river = shapely.distance(river_line, shapely.points(candidates))
    seats = np.array([s.seed for s in subdistricts])
    d_seat = np.min(np.hypot(candidates[:, None, 0] - seats[None, :, 0],
                             candidates[:, None, 1] - seats[None, :, 1]), axis=1)
    district_of = np.full(len(candidates), "", dtype=object)
    for d in districts:
        district_of[shapely.contains_xy(d.geom, candidates[:, 0], candidates[:, 1])] = d.code
    for level, area_km2, name in PARKS:
        radius = np.sqrt(area_km2 * 1e6 / np.pi)
        ok = (d_core > 10_000) & (d_seat > radius + 800)
        if level == "national":
            ok &= (d_river > radius * 0.7) & (d_river < radius + 900)
        ok &= ~np.isin(district_of, list(used))
        if not ok.any():
            ok = ~np.isin(district_of, list(used))
        pick = int(np.flatnonzero(ok)[np.argmin(u[ok])])
        district = next(d for d in districts if d.code == district_of[pick])
        blob = radial_blob(*candidates[pick], radius, rng, roughness=0.22, stretch=rng.uniform(0.8, 1.25))
        shape = blob.intersection(district.geom.buffer(-80)).difference(water.buffer(80))
        shape = max(shapely.get_parts(shape), key=lambda g: g.area)
        used.add(district.code)
        place = district.name.removeprefix("示范市").removesuffix("区")
        parks.append(Park(f"CP{district.code}{len(parks) + 1:02d}", f"示范市{place}{name}", level, district.code,
                          shape))
    return parks

