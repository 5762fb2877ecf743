"""Administrative divisions: 6 districts, ~40 subdistricts and ~400 grid cells that tile the city exactly.

Each level is a Voronoi diagram of seeds restricted to its parent. Clipping each level separately would give
neighbours that disagree in the last bits where they meet, i.e. slivers; instead every level's Voronoi edges
are noded together with the city boundary into one planar arrangement, polygonized into faces, and every
unit is the coverage union of its faces. Neighbours therefore share identical vertices, and a grid cell is
made of exactly the faces that also make up part of its subdistrict and district.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Polygon, box

from data.demo.frame import best_candidates, zh_number
from data.demo.names import PLACE_WORDS, distinct_words

# Seeds' Voronoi edges are extended a little past their parent so that no edge stops a hair short of the
# parent's border after noding (which would leave two faces merged); the stubs outside are dangles that
# polygonize drops.
_OVERSHOOT_M = 0.01
#: Grid parts smaller than this share of their subdistrict's mean cell are merged into a neighbour.
_SLIVER_SHARE = 0.15
DIRECTION_NAMES = ("示范市东港区", "示范市东湖区", "示范市北山区", "示范市西岭区", "示范市西城区",
                   "示范市南岭区", "示范市江南区", "示范市南港区")
CORE_NAME = "示范市临江区"


@dataclass
class Division:
    code: str
    name: str
    parent_code: str | None
    geom: Polygon | MultiPolygon  # metric frame
    seed: tuple[float, float]
    urban: bool = True


def _voronoi_edges(seeds: np.ndarray, clip: shapely.Geometry) -> shapely.Geometry:
    far = box(*clip.bounds).buffer(50_000)
    edges = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=far, only_edges=True)
    return shapely.intersection(edges, clip.buffer(_OVERSHOOT_M))


def _voronoi_cells(seeds: np.ndarray, clip: shapely.Geometry) -> list[shapely.Geometry]:
    far = box(*clip.bounds).buffer(50_000)
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=far, ordered=True)
    return [shapely.intersection(c, clip) for c in shapely.get_parts(cells)]


def _nearest(points: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    d = (points[:, None, 0] - seeds[None, :, 0]) ** 2 + (points[:, None, 1] - seeds[None, :, 1]) ** 2
    return np.argmin(d, axis=1)


def _allocate(total: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    counts = np.maximum(minimum, np.round(total * weights / weights.sum())).astype(int)
    while counts.sum() != total:
        i = int(np.argmax(counts)) if counts.sum() > total else int(np.argmax(weights / counts))
        counts[i] += 1 if counts.sum() < total else -1
    return counts


def _as_multi(g: Polygon | MultiPolygon) -> MultiPolygon:
    return g if isinstance(g, MultiPolygon) else MultiPolygon([g])


def _merge_slivers(parts: list[Polygon], sliver_area: float) -> list[Polygon]:
    """Fold tiny grid parts into the neighbour they share the longest border with (same subdistrict)."""
    parts = list(parts)
    while len(parts) > 1:
        areas = [p.area for p in parts]
        i = int(np.argmin(areas))
        if areas[i] >= sliver_area:
            break
        shared = [shapely.intersection(parts[i].boundary, q.boundary).length if j != i else -1.0
                  for j, q in enumerate(parts)]
        j = int(np.argmax(shared))
        if shared[j] <= 0:
            break  # an isolated part (e.g. across a concavity) stays a cell of its own
        merged = shapely.coverage_union_all([parts[i], parts[j]])
        parts = [q for k, q in enumerate(parts) if k not in (i, j)] + [merged]
    return parts


def build_divisions(rng: np.random.Generator, boundary: Polygon, core: tuple[float, float],
                    avoid: shapely.Geometry, n_subdistricts: int = 40, n_cells: int = 400,
                    ) -> tuple[list[Division], list[Division], list[Division]]:
    """(districts, subdistricts, grid cells) in the metric frame; ``avoid`` (water) never holds a seed."""
    district_seeds = _district_seeds(rng, boundary, core, avoid)
    district_cells = _voronoi_cells(district_seeds, boundary)

    # Core district first, then the ring counter-clockwise from east: codes 329902, 329903, ...
    angles = np.arctan2(district_seeds[1:, 1] - core[1], district_seeds[1:, 0] - core[0]) % (2 * np.pi)
    sectors = np.round(angles / (np.pi / 4)).astype(int) % 8
    names = [CORE_NAME] + [DIRECTION_NAMES[s] for s in sectors]
    codes = [f"3299{i + 2:02d}" for i in range(len(district_seeds))]

    areas = np.array([c.area for c in district_cells])
    sub_counts = _allocate(n_subdistricts, areas * np.where(np.arange(len(areas)) == 0, 2.5, 1.0), 4)
    sub_seeds: list[np.ndarray] = []
    sub_cells: list[list] = []
    for i, cell in enumerate(district_cells):
        seeds = best_candidates(rng, cell, int(sub_counts[i]), avoid=avoid)
        sub_seeds.append(seeds)
        sub_cells.append(_voronoi_cells(seeds, cell))

    flat_subs = [(i, j) for i in range(len(district_cells)) for j in range(len(sub_seeds[i]))]
    urban = []
    for i, j in flat_subs:
        p = sub_seeds[i][j]
        urban.append(i == 0 or np.hypot(p[0] - core[0], p[1] - core[1]) < 11_000
                     or np.hypot(*(p - district_seeds[i])) < 3_500)
    sub_area = np.array([sub_cells[i][j].area for i, j in flat_subs])
    cell_counts = _allocate(n_cells, sub_area * np.where(urban, 2.0, 1.0), 3)
    grid_seeds: list[np.ndarray] = []
    lines = [boundary.exterior, _voronoi_edges(district_seeds, boundary)]
    for i in range(len(district_cells)):
        lines.append(_voronoi_edges(sub_seeds[i], district_cells[i]))
    for k, (i, j) in enumerate(flat_subs):
        seeds = best_candidates(rng, sub_cells[i][j], int(cell_counts[k]), avoid=avoid)
        grid_seeds.append(seeds)
        lines.append(_voronoi_edges(seeds, sub_cells[i][j]))

    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(lines))))
    rep = shapely.get_coordinates(shapely.point_on_surface(faces))
    inside = shapely.contains_xy(boundary, rep[:, 0], rep[:, 1])
    faces, rep = faces[inside], rep[inside]
    f_district = _nearest(rep, district_seeds)
    f_sub = np.full(len(faces), -1)
    f_cell = np.full(len(faces), -1)
    sub_index = {ij: k for k, ij in enumerate(flat_subs)}
    for i in range(len(district_cells)):
        m = f_district == i
        f_sub[m] = [sub_index[(i, j)] for j in _nearest(rep[m], sub_seeds[i])]
    for k in range(len(flat_subs)):
        m = f_sub == k
        f_cell[m] = _nearest(rep[m], grid_seeds[k])

    districts = [
        Division(codes[i], names[i], None, _as_multi(shapely.coverage_union_all(faces[f_district == i])),
                 tuple(district_seeds[i]))
        for i in range(len(district_cells))
    ]
    sub_names = distinct_words(rng, PLACE_WORDS, len(flat_subs))
    subdistricts: list[Division] = []
    cells: list[Division] = []
    street_no = dict.fromkeys(codes, 0)
    town_no = dict.fromkeys(codes, 0)
    for k, (i, j) in enumerate(flat_subs):
        if urban[k]:
            street_no[codes[i]] += 1
            code, name = f"{codes[i]}{street_no[codes[i]]:03d}", sub_names[k] + "街道"
        else:
            town_no[codes[i]] += 1
            code, name = f"{codes[i]}{100 + town_no[codes[i]]:03d}", sub_names[k] + "镇"
        geom = _as_multi(shapely.coverage_union_all(faces[f_sub == k]))
        subdistricts.append(Division(code, name, codes[i], geom, tuple(sub_seeds[i][j]), urban[k]))
        parts: list[Polygon] = []
        for g in range(len(grid_seeds[k])):
            members = faces[(f_sub == k) & (f_cell == g)]
            if len(members):
                parts.extend(shapely.get_parts(shapely.coverage_union_all(members)))
        parts = _merge_slivers(parts, _SLIVER_SHARE * geom.area / max(1, len(grid_seeds[k])))
        parts.sort(key=lambda p: (-round(p.centroid.y, 3), round(p.centroid.x, 3)))
        for n, part in enumerate(parts, start=1):
            c = part.representative_point()
            cells.append(Division(f"{code}{n:03d}", f"{name}第{zh_number(n)}网格", code, part, (c.x, c.y),
                                  urban[k]))
    return districts, subdistricts, cells


def _district_seeds(rng: np.random.Generator, boundary: Polygon, core: tuple[float, float],
                    avoid: shapely.Geometry) -> np.ndarray:
    """The city core plus five suburban seeds on a ring, each about half way out to the boundary."""
    seeds = [core]
    base = rng.uniform(0, 2 * np.pi)
    cx, cy = core
    far = max(boundary.bounds[2] - boundary.bounds[0], boundary.bounds[3] - boundary.bounds[1])
    for k in range(5):
        theta = base + 2 * np.pi * k / 5 + rng.uniform(-0.2, 0.2)
        ray = shapely.LineString([(cx, cy), (cx + far * np.cos(theta), cy + far * np.sin(theta))])
        hit = shapely.intersection(ray, boundary)
        reach = max(g.length for g in shapely.get_parts(hit)) if not hit.is_empty else far / 4
        for frac in (0.55, 0.5, 0.6, 0.45, 0.65, 0.4):
            p = (cx + frac * reach * np.cos(theta), cy + frac * reach * np.sin(theta))
            if boundary.contains(shapely.Point(p)) and not avoid.contains(shapely.Point(p)):
                break
        seeds.append(p)
    ring = np.asarray(seeds[1:])
    order = np.argsort(np.arctan2(ring[:, 1] - cy, ring[:, 0] - cx) % (2 * np.pi))
    return np.vstack([np.asarray(core)[None, :], ring[order]])
