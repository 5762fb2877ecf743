"""The arterial skeleton: a motorway ring with radial expressways, and trunk/primary/secondary roads.

Arterials are Gabriel graphs of ever denser hub sets (district centres, parks and city gates; then
subdistrict seats; then grid-cell centres), each level keeping only the links the levels above do not
already serve. ``roads`` then nodes the lines against each other: every crossing becomes a junction whose
coordinates are computed once and shared by both roads, so the graph needs no snapping afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import Delaunay
from shapely.geometry import LineString

from data.demo.geography import Geography
from data.demo.names import ROAD_WORDS, distinct_words

PRIORITY = {"motorway": 0, "trunk": 1, "primary": 2, "secondary": 3}


@dataclass
class Line:
    coords: np.ndarray  # (k, 2) metric; endpoints are hub coordinates exactly
    road_class: str
    name: str
    speed_kmh: float


def gabriel_edges(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (u < v) of the Gabriel graph: Delaunay edges whose diametral circle holds no other point.

    An edge fails exactly when the vertex opposite it in an adjacent triangle sees it at 90° or more.
    """
    n = len(xy)
    if n < 3:
        return np.array([0]), np.array([1])
    tri = Delaunay(xy).simplices
    u = np.concatenate([tri[:, 0], tri[:, 1], tri[:, 2]])
    v = np.concatenate([tri[:, 1], tri[:, 2], tri[:, 0]])
    w = np.concatenate([tri[:, 2], tri[:, 0], tri[:, 1]])
    dot = np.einsum("ij,ij->i", xy[u] - xy[w], xy[v] - xy[w])
    key = np.minimum(u, v).astype(np.int64) * n + np.maximum(u, v)
    good = np.setdiff1d(np.unique(key), np.unique(key[dot <= 0]), assume_unique=True)
    return good // n, good % n


def _curve(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, bend: float, pieces: int = 6) -> np.ndarray:
    t = np.linspace(0, 1, pieces + 1)
    d = b - a
    normal = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-9)
    pts = a + np.outer(t, d) + np.outer(bend * np.hypot(*d) * np.sin(np.pi * t), normal)
    pts[0], pts[-1] = a, b  # exact hub coordinates, so lines meeting at a hub share the node
    return pts


def _acceptable(geo: Geography, coords: np.ndarray) -> bool:
    line = LineString(coords)
    if line.intersects(geo.lake_margin):
        return False
    # Crossing the main river is a bridge; running along inside it is not a road.
    return shapely.intersection(line, geo.main_river).length < 900


def _ring(rng: np.random.Generator, geo: Geography) -> np.ndarray:
    cx, cy = geo.core
    inner = geo.boundary.buffer(-1500)
    for _ in range(60):
        radius = rng.uniform(8500, 11000)
        theta = np.linspace(0, 2 * np.pi, 160, endpoint=False)
        r = radius * (1 + sum(0.05 * np.cos(k * theta + rng.uniform(0, 6)) for k in (2, 3, 4)))
        pts = np.column_stack([cx + 1.15 * r * np.cos(theta), cy + 0.9 * r * np.sin(theta)])
        pts = np.vstack([pts, pts[:1]])
        line = LineString(pts)
        if inner.contains(line) and not line.intersects(geo.standing_water.buffer(200)):
            return pts
    raise RuntimeError("could not place the motorway ring clear of the lakes")


def _spurs(rng: np.random.Generator, geo: Geography, ring: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """Three expressways from ring vertices straight out to the city edge, each in a different direction."""
    cx, cy = geo.core
    edge = geo.boundary.buffer(-200)
    out: list[tuple[np.ndarray, str]] = []
    base = rng.uniform(0, 2 * np.pi)
    for k in range(3):
        for _ in range(40):
            theta = base + 2 * np.pi * k / 3 + rng.uniform(-0.35, 0.35)
            i = int(np.argmin(np.abs(np.angle(np.exp(1j * (np.arctan2(ring[:-1, 1] - cy, ring[:-1, 0] - cx)
                                                              - theta))))))
            start = ring[i]
            far = start + 60_000 * np.array([np.cos(theta), np.sin(theta)])
            ray = shapely.intersection(LineString([start, far]), edge)
            if ray.is_empty:
                continue
            first = shapely.get_parts(ray)[0]
            end = np.asarray(first.coords[-1])
            pts = _curve(rng, start, end, rng.uniform(-0.05, 0.05), pieces=10)
            if _acceptable(geo, pts):
                out.append((pts, f"示范{_direction(theta)}高速"))
                break
    return out


def _direction(theta: float) -> str:
    names = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")
    return names[int(np.round((theta % (2 * np.pi)) / (np.pi / 4))) % 8]


def _gates(rng: np.random.Generator, geo: Geography) -> np.ndarray:
    """Eight points where trunk roads leave the city."""
    cx, cy = geo.core
    edge = geo.boundary.buffer(-150)
    gates = []
    for k in range(8):
        theta = k * np.pi / 4 + rng.uniform(-0.15, 0.15)
        ray = shapely.intersection(LineString([(cx, cy), (cx + 80_000 * np.cos(theta), cy + 80_000 * np.sin(theta))]),
                                   edge)
        if ray.is_empty:
            continue
        p = np.asarray(shapely.get_parts(ray)[0].coords[-1])
        if not geo.in_water(p[:1], p[1:], margin=100)[0]:
            gates.append(p)
    return np.asarray(gates)


def build_skeleton(rng: np.random.Generator, geo: Geography) -> list[Line]:
    ring = _ring(rng, geo)
    lines = [Line(ring, "motorway", "示范市绕城高速", 100.0)]
    lines += [Line(pts, "motorway", name, 120.0) for pts, name in _spurs(rng, geo, ring)]

    hubs1 = np.vstack([np.array([d.seed for d in geo.districts]),
                       np.array([shapely.get_coordinates(p.geom.representative_point())[0] for p in geo.parks]),
                       _gates(rng, geo)])
    seats = np.array([s.seed for s in geo.subdistricts])
    cells = np.array([c.seed for c in geo.grid_cells])
    u = geo.urbanness(cells[:, 0], cells[:, 1])
    cells = cells[(u > 0.15) | (rng.random(len(cells)) < 0.2)]
    cells = cells[~geo.in_water(cells[:, 0], cells[:, 1], margin=120)]
    hub_sets = [("trunk", hubs1, 0.0), ("primary", np.vstack([hubs1, seats]), 700.0),
                ("secondary", np.vstack([hubs1, seats, cells]), 600.0)]
    words = iter(distinct_words(rng, ROAD_WORDS, 20 * len(ROAD_WORDS)))
    suffix = {"trunk": "大道", "primary": "路", "secondary": "路"}
    speed = {"trunk": 80.0, "primary": 60.0, "secondary": 50.0}
    seen: set[tuple[float, float, float, float]] = set()
    for cls, hubs, band in hub_sets:
        served = shapely.union_all([LineString(ln.coords) for ln in lines]).buffer(band, quad_segs=2) if band else None
        if served is not None:
            shapely.prepare(served)
        a_idx, b_idx = gabriel_edges(hubs)
        for a, b in zip(a_idx, b_idx, strict=True):
            pa, pb = hubs[a], hubs[b]
            key = tuple(sorted([tuple(pa), tuple(pb)]))
            key = (*key[0], *key[1])
            if key in seen:
                continue
            seen.add(key)
            straight = LineString([pa, pb])
            if served is not None and served.contains(straight):
                continue
            pts = _curve(rng, pa, pb, rng.uniform(-0.06, 0.06))
            if not _acceptable(geo, pts):
                pts = np.vstack([pa, pb])
                if not _acceptable(geo, pts):
                    continue
            lines.append(Line(pts, cls, next(words) + suffix[cls], speed[cls]))
    return lines
