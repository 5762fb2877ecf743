"""Isochrone polygons that contain exactly the road nodes reached within the time, and no other node.

Construction (all geometry in the CGCS2000 3° Gauss-Krüger zone of the origin, metres):

1. One Dijkstra from the origin node — on the reversed graph for ``towards`` (where can a responder start and
   arrive within T: the dispatch question), on the forward graph otherwise — bounded by the largest T.
2. A *time field* on a grid of ``cell_m`` (default 50 m) cells: every arc a→b whose tail is reached is sampled
   every cell along its road, each sample carrying t(a) + (fraction driven) × cost(a→b) (cost = length /
   speed, so time is uniform along a road); a cell holds the earliest sample in it, and every cell within
   ``reach_m`` (default 250 m) of a sampled cell takes the time of the nearest one (a Euclidean feature
   transform). Cells farther from any reached road stay unreachable. So one field serves every limit, and the
   polygons of growing limits are nested.
3. The outline for limit T is the filled contour {field ≤ T} (contourpy, linear interpolation between cell
   centres, then Douglas-Peucker at 0.5 m): the roads drivable within T plus ``reach_m`` around them, which
   fills town blocks but leaves the fields beside a lone country road out — unlike a concave hull of the reached nodes, which claims them.
4. Exactness, whatever the outline: a reached node left outside gets a disc, a node not reached but inside gets
   a hole (a one-way street against the flow, a far river bank, a node just beyond the frontier). Each disc or
   hole has radius ``min(cell_m, 0.45 × distance to the nearest node of the other kind)``, so they never reach
   a node of the other kind nor each other: every reached node is inside, every other node outside. Nodes
   closer than 5 cm to the outline are corrected the same way, so each node ends ≥ 5 cm on its side of the
   line and the output, rounded to 1e-7° (~1 cm) of lon/lat, keeps the promise; it is a valid (Multi)Polygon.
   (Needs nodes of the two kinds to be > 0.12 m apart; the demo city's closest nodes are 9 m apart.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import contourpy
import numpy as np
import shapely
from pyproj import Transformer
from scipy.ndimage import distance_transform_edt
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from core.geo.coords import gk3_zone_epsg
from emergency.dispatch.graph import RoadGraph

STORAGE_CRS = "EPSG:4490"
SIMPLIFY_M = 0.5
DECIMALS = 7  # of a degree in the output: ~1 cm
MARGIN_M = 0.05  # every node ends up at least this far from the outline, on the right side of it
SHARE = 0.45  # of the distance to the nearest node of the other kind: the radius of a correcting disc or hole


@cache
def _transformers(epsg: int) -> tuple[Transformer, Transformer]:
    to_metric = Transformer.from_crs(STORAGE_CRS, f"EPSG:{epsg}", always_xy=True)
    to_lonlat = Transformer.from_crs(f"EPSG:{epsg}", STORAGE_CRS, always_xy=True)
    return to_metric, to_lonlat


@dataclass(frozen=True)
class Isochrone:
    seconds: float
    geometry: BaseGeometry  # lon/lat (CGCS2000)
    reached_nodes: int
    discs: int  # reached nodes the outline missed
    holes: int  # nodes not reached that the outline covered
    area_m2: float


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for each pair, vectorised."""
    return np.repeat(starts, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))


def _projected(graph: RoadGraph, epsg: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Road vertices and nodes in the zone's metres, and each vertex's share of its road's length from the
    road's source — computed once per graph and zone."""
    found = graph.scratch.get(("metric", epsg))
    if found is None:
        to_metric, _ = _transformers(epsg)
        coords = np.column_stack(to_metric.transform(graph.coords[:, 0], graph.coords[:, 1]))
        nodes = np.column_stack(to_metric.transform(graph.node_xy[:, 0], graph.node_xy[:, 1]))
        step = np.zeros(len(coords))
        step[1:] = np.hypot(*np.diff(coords, axis=0).T)
        starts = graph.edge_offsets[:-1]
        step[starts[starts < len(coords)]] = 0.0  # no step across two roads
        run = np.cumsum(step)
        owner = np.repeat(np.arange(len(starts)), np.diff(graph.edge_offsets))
        base, total = run[starts][owner], (run[graph.edge_offsets[1:] - 1] - run[starts])[owner]
        share = np.divide(run - base, total, out=np.zeros_like(run), where=total > 0)
        found = (coords, nodes, share)
        graph.scratch[("metric", epsg)] = found
    return found


def _samples(graph: RoadGraph, dist: np.ndarray, towards: bool, limit: float, coords: np.ndarray,
             share: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """(xy, seconds) of points every ``spacing`` metres along every road driven from a reached tail."""
    arc = graph.backward if towards else graph.forward
    t_tail = dist[arc.tail]
    ok = np.flatnonzero(np.isfinite(t_tail) & (t_tail <= limit))
    edge = arc.edge[ok]
    counts = graph.edge_offsets[edge + 1] - graph.edge_offsets[edge]
    vertex = _ranges(graph.edge_offsets[edge], counts)
    which = np.repeat(np.arange(len(ok)), counts)
    driven = np.where(arc.along[ok][which], share[vertex], 1.0 - share[vertex])
    seconds = t_tail[ok][which] + driven * arc.matrix.data[ok][which]
    # Segments join consecutive vertices of the same arc.
    seg = np.flatnonzero(which[1:] == which[:-1])
    p0, p1, s0, s1 = coords[vertex[seg]], coords[vertex[seg + 1]], seconds[seg], seconds[seg + 1]
    n = np.maximum(1, np.ceil(np.hypot(*(p1 - p0).T) / spacing).astype(np.int64))
    owner = np.repeat(np.arange(len(seg)), n + 1)
    f = (np.arange(len(owner)) - np.repeat(np.cumsum(n + 1) - (n + 1), n + 1)) / np.repeat(n, n + 1)
    return p0[owner] + (p1[owner] - p0[owner]) * f[:, None], s0[owner] + (s1[owner] - s0[owner]) * f


def _time_field(xy: np.ndarray, seconds: np.ndarray, cell: float, reach: float, never: float,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pad = reach + 2 * cell
    x0, y0 = xy.min(axis=0) - pad
    cols, rows = np.ceil((xy.max(axis=0) + pad - (x0, y0)) / cell).astype(int)
    r, c = ((xy[:, 1] - y0) // cell).astype(int), ((xy[:, 0] - x0) // cell).astype(int)
    grid = np.full((rows, cols), np.inf)
    np.minimum.at(grid, (r, c), seconds)
    gap, (ir, ic) = distance_transform_edt(~np.isfinite(grid), return_indices=True)
    field = grid[ir, ic]
    field[gap * cell > reach] = never
    return x0 + (np.arange(cols) + 0.5) * cell, y0 + (np.arange(rows) + 0.5) * cell, field


def _contour(generator: contourpy.ContourGenerator, limit: float) -> BaseGeometry:
    points, offsets = generator.filled(-1.0, limit)
    polygons = []
    for xy, off in zip(points, offsets, strict=True):
        rings = shapely.linearrings(xy, indices=np.repeat(np.arange(len(off) - 1), np.diff(off)))
        polygons.append(shapely.Polygon(rings[0], holes=rings[1:]))
    area = shapely.union_all(polygons)
    # Douglas-Peucker at 0.5 m drops the near-duplicate vertices contouring leaves (half of them), which would
    # otherwise collapse into self-intersections once rounded to 1e-7°; GEOS repairs what it simplifies.
    return area.simplify(SIMPLIFY_M, preserve_topology=False)


def _points(graph: RoadGraph, epsg: int, nodes: np.ndarray) -> np.ndarray:
    found = graph.scratch.get(("points", epsg))
    if found is None:
        found = graph.scratch[("points", epsg)] = shapely.points(nodes)
    return found


def _near(area: BaseGeometry, points: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Which nodes lie within MARGIN_M of the outline (only those inside its bounding box are measured)."""
    near = np.zeros(len(points), dtype=bool)
    if area.is_empty:
        return near
    x0, y0, x1, y1 = area.bounds
    box = np.flatnonzero((nodes[:, 0] >= x0 - MARGIN_M) & (nodes[:, 0] <= x1 + MARGIN_M) &
                         (nodes[:, 1] >= y0 - MARGIN_M) & (nodes[:, 1] <= y1 + MARGIN_M))
    boundary = area.boundary
    shapely.prepare(boundary)
    near[box] = shapely.dwithin(boundary, points[box], MARGIN_M)
    return near


def _to_lonlat(area: BaseGeometry, to_lonlat: Transformer) -> BaseGeometry:
    """Lon/lat rounded to 1e-7°, still valid: rounding rarely creates a self-touch; snap-rounding then fixes it."""
    exact = shapely.transform(area, lambda p: np.column_stack(to_lonlat.transform(p[:, 0], p[:, 1])))
    rounded = shapely.transform(exact, lambda p: np.round(p, DECIMALS))
    if rounded.is_valid:
        return rounded
    snapped = shapely.set_precision(exact, 10.0 ** -DECIMALS)
    return snapped if snapped.is_valid else shapely.make_valid(snapped)


def _discs(xy: np.ndarray, others: np.ndarray, cap: float) -> BaseGeometry:
    radius = np.full(len(xy), cap)
    if len(others):
        radius = np.minimum(cap, SHARE * cKDTree(others).query(xy)[0])
    return shapely.union_all(shapely.buffer(shapely.points(xy), radius, quad_segs=4))


def isochrones(graph: RoadGraph, origin: int, limits_s: list[float], *, towards: bool = True,
               cell_m: float = 50.0, reach_m: float = 250.0) -> list[Isochrone]:
    """One polygon per limit (seconds), in the order given; see the module docstring for the construction."""
    top = max(limits_s)
    dist, _ = graph.search(origin, towards=towards, limit=top)
    epsg = gk3_zone_epsg(float(graph.node_xy[origin, 0]))
    coords, nodes, share = _projected(graph, epsg)
    points = _points(graph, epsg, nodes)
    _, to_lonlat = _transformers(epsg)
    xy, seconds = _samples(graph, dist, towards, top, coords, share, cell_m)
    keep = seconds <= top
    generator = None
    if keep.any():
        xs, ys, field = _time_field(xy[keep], seconds[keep], cell_m, reach_m, never=2.0 * top + 1.0)
        generator = contourpy.contour_generator(xs, ys, field, fill_type=contourpy.FillType.OuterOffset)
    out: list[Isochrone] = []
    for limit in limits_s:
        area = _contour(generator, limit) if generator is not None else shapely.Polygon()
        reached = np.isfinite(dist) & (dist <= limit)
        # Nodes closer than MARGIN_M to the outline are corrected too, so that rounding can never flip one.
        # The discs of reached nodes stay ≥ 0.55 × gap away from every other node, so judging the nodes against
        # the outline before any disc is added is enough.
        near = _near(area, points, nodes)
        missing = reached & (near | ~shapely.contains_xy(area, nodes[:, 0], nodes[:, 1]))
        intruders = ~reached & (near | shapely.intersects_xy(area, nodes[:, 0], nodes[:, 1]))
        if missing.any():
            area = shapely.union(area, _discs(nodes[missing], nodes[~reached], cell_m))
        if intruders.any():
            area = shapely.difference(area, _discs(nodes[intruders], nodes[reached], cell_m))
        out.append(Isochrone(float(limit), _to_lonlat(area, to_lonlat), int(reached.sum()), int(missing.sum()),
                             int(intruders.sum()), float(area.area)))
    return out
