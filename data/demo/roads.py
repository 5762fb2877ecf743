"""The road network: the arterial skeleton, noded, plus a street mesh whose density follows urbanness.

Streets are the Gabriel graph of randomly placed junctions (dense downtown, sparse in the country), which
is planar, so streets never cross without a junction. Streets never cross an arterial between its nodes,
never touch a lake and never bridge the main river (only arterials do); the motorways are barriers that
streets reach only at interchanges. The result is cut to its largest connected part, and one-way streets
are chosen so that the directed graph stays strongly connected: any one-way street whose two ends fall in
different strong components is made two-way again until only one component is left (if every link
between two components were two-way they would be one component, so this always terminates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point

from data.demo.geography import Geography
from data.demo.names import ROAD_WORDS
from data.demo.skeleton import PRIORITY, Line, build_skeleton, gabriel_edges

#: Road rows (segments) per unit of scale: ~10.3k rows, ~20k directed edges at scale 1.
ROWS_PER_SCALE = 10_300
#: Street segments a street junction adds, measured on the generated mesh (1.6 at scale 1, 1.8 at 20).
STREET_ROWS_PER_NODE = 1.7
MOTORWAY_INTERCHANGE_M = 3000.0
LOCAL_SPEED = {"tertiary": 40.0, "residential": 30.0}
_KIND_RANK = {"vertex": 0, "fill": 0, "cross": 1, "end": 2}


@dataclass
class RoadNetwork:
    node_xy: np.ndarray  # (n, 2) metric; node i is pgRouting vertex i + 1
    source: np.ndarray  # 0-based node index; for one-way roads, the direction of travel
    target: np.ndarray
    road_class: np.ndarray  # object array of class names
    name: np.ndarray  # object array, None for unnamed lanes
    oneway: np.ndarray
    speed_kmh: np.ndarray

    def __len__(self) -> int:
        return len(self.source)

    @property
    def directed_edges(self) -> int:
        return int(len(self.source) + np.count_nonzero(~self.oneway))

    def segment_coords(self) -> np.ndarray:
        return np.stack([self.node_xy[self.source], self.node_xy[self.target]], axis=1)


class _Density:
    """Street-junction density λ(x, y) ∝ urbanness^1.1, lifted inside the chemical parks."""

    def __init__(self, geo: Geography, n_nodes: int, rng: np.random.Generator) -> None:
        self.geo = geo
        minx, miny, maxx, maxy = geo.boundary.bounds
        x, y = rng.uniform(minx, maxx, 40_000), rng.uniform(miny, maxy, 40_000)
        inside = geo.in_city(x, y)
        self.mean = float(self.weight(x[inside], y[inside]).mean())
        self.per_m2 = n_nodes / (self.mean * geo.boundary.area)

    def weight(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        w = self.geo.urbanness(x, y) ** 1.1
        in_park = shapely.contains_xy(self.geo.parks_union, x, y)
        return np.where(in_park, np.maximum(w, 0.35), w)

    def spacing(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1.0 / np.sqrt(self.per_m2 * self.weight(x, y))


def _node_lines(geo: Geography, lines: list[Line], density: _Density,
                ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]], list[Line]]:
    """Junctions and edges of the skeleton: (node xy, "streets may join here", edges (a, b, line), lines).

    A line whose crossing with another would fall on water, or that overlaps another, is dropped (the
    lower class of the two) and the noding starts again.
    """
    while True:
        geoms = np.array([LineString(ln.coords) for ln in lines])
        i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        keep = i < j
        i, j = i[keep], j[keep]
        crossings: list[list[tuple[float, float]]] = [[] for _ in lines]
        drop: set[int] = set()
        for a, b, g in zip(i, j, shapely.intersection(geoms[i], geoms[j]), strict=True):
            worse = b if PRIORITY[lines[b].road_class] >= PRIORITY[lines[a].road_class] else a
            parts = shapely.get_parts(g)
            if any(p.geom_type != "Point" for p in parts):
                drop.add(worse)
                continue
            pts = shapely.get_coordinates(parts)
            if geo.in_water(pts[:, 0], pts[:, 1], margin=40).any():
                drop.add(worse)  # a junction in the river would be a road on the water
                continue
            for x, y in pts:
                crossings[a].append((x, y))
                crossings[b].append((x, y))
        if not drop:
            break
        lines = [ln for k, ln in enumerate(lines) if k not in drop]

    index: dict[tuple[float, float], int] = {}
    coords: list[tuple[float, float]] = []
    in_mesh: list[bool] = []
    edges: list[tuple[int, int, int]] = []

    def node(p: tuple[float, float], meshed: bool) -> int:
        k = index.get(p)
        if k is None:
            k = index[p] = len(coords)
            coords.append(p)
            in_mesh.append(meshed)
        elif meshed:
            in_mesh[k] = True
        return k

    for li, (ln, geom) in enumerate(zip(lines, geoms, strict=True)):
        c = ln.coords
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(c, axis=0).T))])
        entries = [(cum[k], (float(c[k, 0]), float(c[k, 1])), "end" if k in (0, len(c) - 1) else "vertex")
                   for k in range(len(c))]
        for p in crossings[li]:
            entries.append((float(shapely.line_locate_point(geom, Point(p))), p, "cross"))
        entries.sort(key=lambda e: (e[0], -_KIND_RANK[e[2]]))
        kept: list[tuple[float, tuple[float, float], str]] = []
        for e in entries:
            if kept and (e[1] == kept[-1][1] or (abs(e[0] - kept[-1][0]) < 1.0 and "vertex" in (e[2], kept[-1][2]))):
                if _KIND_RANK[e[2]] > _KIND_RANK[kept[-1][2]]:
                    kept[-1] = e
                continue
            kept.append(e)
        kc = np.array([k[1] for k in kept])
        mids = (kc[:-1] + kc[1:]) / 2
        if ln.road_class == "motorway":
            steps = np.full(len(mids), 600.0)
        else:
            steps = np.clip(0.9 * density.spacing(mids[:, 0], mids[:, 1]), 80.0, 1500.0)
        filled: list[tuple[tuple[float, float], str, float]] = []
        for (p0, c0, k0), (p1, _, _), a, b, step in zip(kept[:-1], kept[1:], kc[:-1], kc[1:], steps, strict=True):
            filled.append((c0, k0, p0))
            n_fill = int(np.hypot(*(b - a)) // step)
            for t in np.arange(1, n_fill + 1) / (n_fill + 1):
                q = a + t * (b - a)
                filled.append(((float(q[0]), float(q[1])), "fill", p0 + t * (p1 - p0)))
        filled.append((kept[-1][1], kept[-1][2], kept[-1][0]))
        pts = np.array([f[0] for f in filled])
        wet = geo.in_water(pts[:, 0], pts[:, 1], margin=25)
        last_exchange = -np.inf
        ids = []
        for (p, kind, pos), is_wet in zip(filled, wet, strict=True):
            if is_wet and kind in ("vertex", "fill"):
                continue  # a bridge: the edge spans the water without a junction on it
            meshed = True
            if ln.road_class == "motorway":
                # Streets join a motorway only at interchanges: junctions with arterials, and every few km.
                meshed = kind in ("cross", "end") or pos - last_exchange >= MOTORWAY_INTERCHANGE_M
                if meshed:
                    last_exchange = pos
            ids.append(node(p, meshed))
        for a, b in zip(ids[:-1], ids[1:], strict=True):
            if a != b:
                edges.append((a, b, li))
    return (*_merge_close_nodes(np.asarray(coords), np.asarray(in_mesh), edges), lines)


def _merge_close_nodes(xy: np.ndarray, in_mesh: np.ndarray, edges: list[tuple[int, int, int]],
                       ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """Fuse junctions a few metres apart (arterials crossing next to a hub) instead of keeping stub roads."""
    parent = np.arange(len(xy))
    for a, b in sorted(cKDTree(xy).query_pairs(r=8.0)):
        ra, rb = a, b
        while parent[ra] != ra:
            ra = parent[ra]
        while parent[rb] != rb:
            rb = parent[rb]
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    for k in range(len(parent)):
        parent[k] = parent[parent[k]]
    for k in np.flatnonzero(in_mesh):
        in_mesh[parent[k]] = True
    merged = [(int(parent[a]), int(parent[b]), li) for a, b, li in edges if parent[a] != parent[b]]
    used = np.unique(np.array([e[:2] for e in merged]).ravel())
    remap = np.full(len(xy), -1)
    remap[used] = np.arange(len(used))
    return xy[used], in_mesh[used], [(int(remap[a]), int(remap[b]), li) for a, b, li in merged]


def _street_nodes(rng: np.random.Generator, geo: Geography, density: _Density, n: int,
                  major_tree: shapely.STRtree, motorway: np.ndarray) -> np.ndarray:
    minx, miny, maxx, maxy = geo.boundary.bounds
    top = float(density.weight(np.array([geo.core[0]]), np.array([geo.core[1]]))[0]) * 1.6 + 0.35
    out: list[np.ndarray] = []
    got = 0
    while got < n:
        m = int((n - got) * 3 + 1000)
        x, y = rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)
        ok = rng.random(m) * top < density.weight(x, y)
        ok &= geo.in_city(x, y)
        x, y = x[ok], y[ok]
        ok = ~geo.in_water(x, y, margin=25)
        out.append(np.column_stack([x[ok], y[ok]]))
        got += int(ok.sum())
    xy = np.concatenate(out)[:n]
    spacing = density.spacing(xy[:, 0], xy[:, 1])
    # Keep clear of arterials (their own junctions serve that strip) and well clear of motorways.
    hit, dist = major_tree.query_nearest(shapely.points(xy), return_distance=True)
    far = np.ones(len(xy), dtype=bool)
    far[hit[0]] = dist > np.where(motorway[hit[1]], 150.0, 0.35 * spacing[hit[0]])
    xy, spacing = xy[far], spacing[far]
    # Thin pairs of junctions much closer than the local spacing (they would make stub streets).
    pairs = cKDTree(xy).query_pairs(r=0.3 * float(spacing.max()), output_type="ndarray")
    if len(pairs):
        d = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
        close = d < 0.3 * np.minimum(spacing[pairs[:, 0]], spacing[pairs[:, 1]])
        drop = np.zeros(len(xy), dtype=bool)
        for a, b in pairs[close]:
            if not drop[a]:
                drop[b] = True
        xy = xy[~drop]
    return xy


def build_roads(rng: np.random.Generator, geo: Geography, scale: int) -> RoadNetwork:
    # Arterials grow only with the square root of the scale (their junction spacing), so streets make up
    # the rest of the edge budget and the network as a whole scales linearly.
    guess = _Density(geo, int(ROWS_PER_SCALE * scale / 2.8), rng)
    major_xy, major_meshed, major_edges, lines = _node_lines(geo, build_skeleton(rng, geo), guess)
    n_streets = max(1000, int((ROWS_PER_SCALE * scale - len(major_edges)) / STREET_ROWS_PER_NODE))
    density = _Density(geo, n_streets, rng)
    ea = np.array([e[0] for e in major_edges])
    eb = np.array([e[1] for e in major_edges])
    el = np.array([e[2] for e in major_edges])
    major_geoms = shapely.linestrings(np.stack([major_xy[ea], major_xy[eb]], axis=1))
    is_motorway = np.array([lines[k].road_class == "motorway" for k in el])
    tree = shapely.STRtree(major_geoms)
    street_xy = _street_nodes(rng, geo, density, n_streets, tree, is_motorway)

    # The mesh: arterial junctions (except motorway-only nodes) plus street junctions.
    mesh_ids = np.concatenate([np.flatnonzero(major_meshed), len(major_xy) + np.arange(len(street_xy))])
    xy = np.vstack([major_xy, street_xy])
    u, v = gabriel_edges(xy[mesh_ids])
    u, v = mesh_ids[u], mesh_ids[v]
    n_major = len(major_xy)
    keep = (u >= n_major) | (v >= n_major)
    u, v = u[keep], v[keep]
    segs = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
    li, mj = tree.query(segs, predicate="intersects")
    touching = (u[li] == ea[mj]) | (u[li] == eb[mj]) | (v[li] == ea[mj]) | (v[li] == eb[mj])
    crosses = np.zeros(len(u), dtype=bool)
    crosses[li[~touching]] = True
    mid = (xy[u] + xy[v]) / 2
    length = np.hypot(*(xy[u] - xy[v]).T)
    barrier = shapely.union_all([geo.standing_water, geo.main_river]).buffer(5)
    shapely.prepare(barrier)
    ok = ~crosses & ~shapely.intersects(barrier, segs) & shapely.covers(geo.boundary, segs)
    ok &= length < np.minimum(2.8 * density.spacing(mid[:, 0], mid[:, 1]), 4000.0)
    u, v = u[ok], v[ok]

    src = np.concatenate([ea, u])
    dst = np.concatenate([eb, v])
    cls = np.array([lines[k].road_class for k in el] + [""] * len(u), dtype=object)
    names = np.array([lines[k].name for k in el] + [None] * len(u), dtype=object)
    speed = np.array([lines[k].speed_kmh for k in el] + [0.0] * len(u))
    street = np.arange(len(src)) >= len(ea)
    src, dst, cls, names, speed, street = _largest_component(xy, src, dst, cls, names, speed, street)
    mid = (xy[src] + xy[dst]) / 2
    urban = geo.urbanness(mid[:, 0], mid[:, 1])
    tertiary = street & ((urban < 0.12) | (rng.random(len(src)) < 0.12))
    cls[street] = np.where(tertiary[street], "tertiary", "residential")
    speed[street] = np.where(tertiary[street], LOCAL_SPEED["tertiary"], LOCAL_SPEED["residential"])
    names[street] = _street_names(rng, xy, src[street], dst[street], cls[street])

    used = np.unique(np.concatenate([src, dst]))
    remap = np.full(len(xy), -1)
    remap[used] = np.arange(len(used))
    src, dst = remap[src], remap[dst]
    oneway = street & (urban > 0.5) & (rng.random(len(src)) < 0.15)
    flip = oneway & (rng.random(len(src)) < 0.5)
    src, dst = np.where(flip, dst, src), np.where(flip, src, dst)
    oneway = _keep_strongly_connected(len(used), src, dst, oneway)
    return RoadNetwork(xy[used], src, dst, cls, names, oneway, speed)


def _largest_component(xy: np.ndarray, src: np.ndarray, dst: np.ndarray,
                       *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Drop duplicate links and self-loops, then keep the largest connected part (islands cut off by lakes)."""
    key = np.minimum(src, dst).astype(np.int64) * len(xy) + np.maximum(src, dst)
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)  # the arterial copy of a duplicated link comes first and wins
    keep = np.zeros(len(src), dtype=bool)
    keep[first] = src[first] != dst[first]
    graph = coo_matrix((np.ones(keep.sum()), (src[keep], dst[keep])), shape=(len(xy), len(xy)))
    _, label = connected_components(graph, directed=False)
    biggest = np.bincount(label[src[keep]]).argmax()
    keep &= label[src] == biggest
    return (src[keep], dst[keep], *(c[keep] for c in columns))


def _keep_strongly_connected(n: int, src: np.ndarray, dst: np.ndarray, oneway: np.ndarray) -> np.ndarray:
    oneway = oneway.copy()
    while True:
        two = ~oneway
        rows = np.concatenate([src, dst[two]])
        cols = np.concatenate([dst, src[two]])
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
        count, label = connected_components(graph, directed=True, connection="strong")
        if count == 1:
            return oneway
        between = oneway & (label[src] != label[dst])
        if not between.any():
            raise RuntimeError("road graph is not connected")
        oneway[between] = False


def _street_names(rng: np.random.Generator, xy: np.ndarray, src: np.ndarray, dst: np.ndarray,
                  cls: np.ndarray) -> np.ndarray:
    """Streets get names shared along runs of similarly aligned segments, as real streets do.

    A segment's name is keyed by its orientation (east-west or north-south), the 350 m band it runs in
    and the 3 km stretch it belongs to; a third of the country lanes stay unnamed.
    """
    a, b = xy[src], xy[dst]
    mid = (a + b) / 2
    angle = np.arctan2(b[:, 1] - a[:, 1], b[:, 0] - a[:, 0]) % np.pi
    across = (angle > np.pi / 4) & (angle < 3 * np.pi / 4)
    band = np.where(across, np.round(mid[:, 0] / 350), np.round(mid[:, 1] / 350)).astype(np.int64)
    stretch = np.where(across, np.floor(mid[:, 1] / 3000), np.floor(mid[:, 0] / 3000)).astype(np.int64)
    salt = int(rng.integers(0, 2**31))
    h = ((band + 100_000) * 1_000_003 + (stretch + 1000) * 7919 + across * 104_729 + salt) % 2_147_483_647
    words = np.asarray(ROAD_WORDS, dtype=object)[h % len(ROAD_WORDS)]
    street_suffix = np.asarray(("街", "巷", "路", "里"), dtype=object)[(h // len(ROAD_WORDS)) % 4]
    lane_suffix = np.asarray(("路", "线", "路"), dtype=object)[(h // len(ROAD_WORDS)) % 3]
    out = np.where(cls == "tertiary", words + lane_suffix, words + street_suffix)
    unnamed = (cls == "tertiary") & ((h // 7) % 3 == 0)
    out[unnamed] = None
    return out
