"""Evacuation proposal: people of the affected area to shelters outside it, by road, capacity respected.

* The road graph is dispatch's in-memory graph (:mod:`emergency.dispatch.graph`, pgRouting edge semantics) with
  every road within ``MARGIN_DEG`` of the affected area removed: no route may enter it. (The margin, ~1 m, keeps a
  road that passes within rounding distance of the zone's edge from touching it once coordinates are rounded.)
* Evacuees leave the area by the roads that cross its edge: the *exits* are the end nodes of removed roads that
  lie outside the area (with no road crossing it, the incident's own road node, when outside). One multi-source
  Dijkstra from every exit gives each shelter its drive time from the nearest exit, and the route.
* Shelters: those the caller may read, outside the area, with room left (capacity − occupancy), reachable on the
  reduced graph. People are assigned to them nearest first (ties by id), each taking at most its room; who is
  left when the shelters are full is reported as unassigned. With one pool of evacuees, filling the nearest
  shelters first gives the least total person-time of travel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry.base import BaseGeometry

from emergency.dispatch.graph import RoadGraph

MARGIN_DEG = 1e-5


@dataclass(frozen=True)
class Shelter:
    id: int
    name: str
    district_code: str | None
    lon: float
    lat: float
    room: int  # capacity − occupancy, never negative
    capacity: int
    occupancy: int
    node_index: int  # in the graph, -1 when off it


def reduced_matrix(graph: RoadGraph, blocked_rows: np.ndarray) -> csr_matrix:
    """The forward (as driven) matrix without the arcs of the blocked road rows."""
    arc = graph.forward
    keep = ~np.isin(arc.edge, blocked_rows)
    indptr = np.zeros(graph.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(arc.tail[keep], minlength=graph.size), out=indptr[1:])
    return csr_matrix((arc.matrix.data[keep], arc.matrix.indices[keep], indptr), shape=arc.matrix.shape)


def exits(graph: RoadGraph, end_node_ids: np.ndarray, area: BaseGeometry) -> np.ndarray:
    """Graph indices of the blocked roads' end nodes (pgRouting ids) that lie outside the area and its margin."""
    nodes = graph.index_of(np.unique(np.asarray(end_node_ids, dtype=np.int64)))
    nodes = nodes[nodes >= 0]
    if len(nodes) == 0:
        return nodes
    outside = ~shapely.dwithin(area, shapely.points(graph.node_xy[nodes]), MARGIN_DEG)
    return nodes[outside]


def _route(graph: RoadGraph, pred: np.ndarray, target: int) -> tuple[np.ndarray, float]:
    path = [target]
    guard = graph.size + 1
    while pred[path[-1]] >= 0 and guard:
        path.append(int(pred[path[-1]]))
        guard -= 1
    path.reverse()
    if len(path) == 1:
        return np.array([graph.node_xy[target], graph.node_xy[target]]), 0.0
    parts, length = [], 0.0
    for a, b in zip(path[:-1], path[1:], strict=True):
        k, along = graph.arc_between(a, b)
        xy = graph.edge_coords(k)
        parts.append((xy if along else xy[::-1])[1 if parts else 0:])
        length += float(graph.edge_length_m[k])
    return np.concatenate(parts), length


def plan(graph: RoadGraph, area: BaseGeometry, blocked_rows: np.ndarray, origins: np.ndarray,
         shelters: list[Shelter], persons: int) -> dict[str, Any]:
    """Assignments nearest first within each shelter's room, the routes, and the unassigned remainder."""
    base = {"persons": persons, "exits": int(len(origins)), "shelters_considered": len(shelters)}
    if persons <= 0:
        return {**base, "assignments": [], "assigned": 0, "unassigned": 0}
    if len(origins) == 0:
        return {**base, "assignments": [], "assigned": 0, "unassigned": persons,
                "note": "no road leads out of the affected area"}
    matrix = reduced_matrix(graph, blocked_rows)
    dist, pred, _sources = dijkstra(matrix, directed=True, indices=origins, return_predecessors=True,
                                    min_only=True)
    reachable = [s for s in shelters if s.node_index >= 0 and np.isfinite(dist[s.node_index]) and s.room > 0]
    reachable.sort(key=lambda s: (float(dist[s.node_index]), s.id))
    left, out = persons, []
    for s in reachable:
        if left == 0:
            break
        take = min(left, s.room)
        coords, length = _route(graph, pred, s.node_index)
        out.append({"shelter_id": s.id, "name": s.name, "district_code": s.district_code,
                    "location": [round(s.lon, 7), round(s.lat, 7)], "capacity": s.capacity,
                    "occupancy": s.occupancy, "room": s.room, "persons": take,
                    "travel_time_s": round(float(dist[s.node_index]), 1), "route_length_m": round(length, 1),
                    "route": {"type": "LineString", "coordinates": np.round(coords, 7).tolist()}})
        left -= take
    return {**base, "shelters_reachable": len(reachable), "assignments": out, "assigned": persons - left,
            "unassigned": left}
