"""Routing for dispatch: snap a point to the road network, rank resources by travel time, draw isochrones.

Travel times are node-to-node drive times on the road graph (pgRouting semantics of ``cost_s`` /
``reverse_cost_s``), *to* the incident: a responder drives from its own snapped node to the incident's. The
short legs off the network (point → nearest road → its nearer end node, both within the snap limit) are not
timed; ``snap_m`` is reported so a client can see them. Snapping is ``emergency_snap()`` in SQL (migration
0002), for incidents here and for resources by trigger, so both sides snap the same way.

The candidates are cached for every caller alike; each answer offers only the resources the caller may read (the
scope of each kind's layer, applied to the cached districts).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from pyproj import Geod
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import DomainError, InvalidInput
from emergency.dispatch.graph import RoadGraph, graphs
from emergency.dispatch.isochrone import isochrones as build_isochrones
from emergency.models import resource_layers
from layers.registry import default_registry

DEFAULT_SNAP_LIMIT_M = 2000.0  # for callers without the app configuration (emergency.snap_limit_m)
MAX_MINUTES = 120
MAX_LIMITS = 8
SEARCH_BOUNDS_S = (600.0, 1800.0, np.inf)

_LOCATE_SQL = text(
    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database()) AS db_oid, "
    "(SELECT version FROM routing_versions WHERE scope = 'roads') AS roads, "
    "(SELECT version FROM routing_versions WHERE scope = 'resources') AS resources, s.node_id, s.edge_id, s.snap_m "
    "FROM (SELECT 1) one LEFT JOIN LATERAL emergency_snap(ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)) s ON true"
)


@cache
def _candidates_sql(kinds: tuple[tuple[str, str], ...]):  # noqa: ANN202 - a SQLAlchemy TextClause
    """Every resource of every dispatchable layer with its snap. A layer with a ``status`` field (rescue teams:
    their duty status) passes it on; the others have none (NULL)."""
    registry = default_registry()
    parts = []
    for kind, layer_id in kinds:
        layer = registry.get(layer_id)
        status = "r.status" if "status" in layer.field_names else "NULL::text"
        parts.append(f"SELECT '{kind}' AS kind, r.id, r.name, r.district_code, ST_X(r.geom) AS lon, "
                     f"ST_Y(r.geom) AS lat, s.node_id, s.snap_m, {status} AS status "
                     f'FROM "{layer.table}" r JOIN resource_snaps s ON s.kind = \'{kind}\' AND s.resource_id = r.id')
    return text(" UNION ALL ".join(parts))


class Unroutable(DomainError):
    """The point is too far from any road to be reached by road."""

    http_status = 422
    code = "no_road_within_limit"


@dataclass(frozen=True)
class Origin:
    lon: float
    lat: float
    node_id: int
    edge_id: int
    snap_m: float
    index: int  # in the graph
    db_key: tuple[str, int]
    roads_version: int
    resources_version: int

    def as_json(self, graph: RoadGraph) -> dict[str, Any]:
        node = graph.node_xy[self.index]
        return {"lon": round(self.lon, 7), "lat": round(self.lat, 7), "node_id": self.node_id,
                "edge_id": self.edge_id, "snap_m": round(self.snap_m, 1),
                "node": [round(float(node[0]), 7), round(float(node[1]), 7)]}


@cache
def _geod() -> Geod:
    return Geod(ellps="GRS80")  # the CGCS2000 ellipsoid to within 0.1 mm


def locate(conn: Connection, lon: float, lat: float, snap_limit_m: float = DEFAULT_SNAP_LIMIT_M,
           ) -> tuple[RoadGraph, Origin]:
    """The road graph and the point's snapped node; :class:`Unroutable` beyond ``snap_limit_m``."""
    row = conn.execute(_LOCATE_SQL, {"lon": lon, "lat": lat}).one()
    if row.node_id is None or row.snap_m > snap_limit_m:
        nearest = "" if row.snap_m is None else f" (the nearest is {row.snap_m:.0f} m away)"
        raise Unroutable(
            f"no road within {snap_limit_m:.0f} m of ({lon:.6f}, {lat:.6f}){nearest}",
            f"位置 ({lon:.6f}, {lat:.6f}) 周边 {snap_limit_m:.0f} 米内没有道路" +
            ("" if row.snap_m is None else f"（最近道路 {row.snap_m:.0f} 米）"),
            details={"snap_limit_m": snap_limit_m, "nearest_road_m": None if row.snap_m is None
                     else round(row.snap_m, 1), "lon": lon, "lat": lat},
        )
    db_key = (conn.engine.url.render_as_string(hide_password=True), int(row.db_oid))
    graph = graphs.get(conn, db_key, int(row.roads))
    index = int(graph.index_of(np.array([row.node_id]))[0])
    if index < 0:  # the roads changed between the two reads; the next query sees the new graph
        raise Unroutable("the road network is being updated; try again", "路网正在更新，请重试",
                         http_status=503, code="network_updating")
    return graph, Origin(lon, lat, int(row.node_id), int(row.edge_id), float(row.snap_m), index, db_key,
                         int(row.roads), int(row.resources))


@dataclass(frozen=True)
class Candidates:
    kind: np.ndarray  # object array of kind names
    rank: np.ndarray  # position of the kind in resource_layers(): the tie-breaker after travel time
    ids: np.ndarray
    names: np.ndarray
    lonlat: np.ndarray
    index: np.ndarray  # graph index of the snapped node (-1: not in the graph)
    snap_m: np.ndarray
    status: np.ndarray
    district: np.ndarray  # object array of district codes: the scope filter of each answer

    def readable(self, kinds: list[str], access: LayerAccess) -> np.ndarray:
        """Mask of the candidates of ``kinds`` the caller may read."""
        mask = np.zeros(len(self.ids), dtype=bool)
        for kind in kinds:
            of_kind = self.kind == kind
            layer = resource_layers()[kind]
            allowed = [d for d in set(self.district[of_kind]) if access.admits(layer, district_code=d)]
            mask |= of_kind & np.isin(self.district, np.array(allowed, dtype=object))
        return mask


_candidates_lock = threading.Lock()
_candidates: dict[tuple[str, int], tuple[tuple[int, int], Candidates]] = {}


def candidates(conn: Connection, graph: RoadGraph, origin: Origin) -> Candidates:
    """Every resource with its snapped node, cached per database until resources or roads change."""
    version = (origin.resources_version, origin.roads_version)
    cached = _candidates.get(origin.db_key)
    if cached and cached[0] == version:
        return cached[1]
    with _candidates_lock:
        order = list(resource_layers())
        rows = conn.execute(_candidates_sql(tuple(resource_layers().items()))).all()
        found = Candidates(
            kind=np.array([r.kind for r in rows], dtype=object),
            rank=np.array([order.index(r.kind) for r in rows], dtype=np.int64), ids=np.array([r.id for r in rows], dtype=np.int64),
            names=np.array([r.name for r in rows], dtype=object),
            lonlat=np.array([(r.lon, r.lat) for r in rows], dtype=float).reshape(-1, 2),
            index=graph.index_of(np.array([r.node_id for r in rows], dtype=np.int64)),
            snap_m=np.array([r.snap_m for r in rows], dtype=float),
            status=np.array([r.status for r in rows], dtype=object),
            district=np.array([r.district_code for r in rows], dtype=object))
        _candidates.pop(origin.db_key, None)
        _candidates[origin.db_key] = (version, found)
        while len(_candidates) > graphs.KEEP:
            _candidates.pop(next(iter(_candidates)))
        return found


def _line(coords: np.ndarray) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": np.round(coords, 7).tolist()}


def nearest_resources(conn: Connection, lon: float, lat: float, kinds: list[str], limit: int = 10,
                      snap_limit_m: float = DEFAULT_SNAP_LIMIT_M, *, access: LayerAccess) -> dict[str, Any]:
    """The ``limit`` resources of ``kinds`` the caller may read that can reach (lon, lat) soonest, with routes."""
    graph, origin = locate(conn, lon, lat, snap_limit_m)
    pool = candidates(conn, graph, origin)
    rows = np.flatnonzero(pool.readable(kinds, access) & (pool.index >= 0))
    # A bounded search is exact for everything within the bound, so once it has found ``limit`` candidates
    # those are the answer; on a big city that saves most of the graph (widen only when it has not).
    for bound in SEARCH_BOUNDS_S:
        dist, pred = graph.search(origin.index, towards=True, limit=bound)
        seconds = dist[pool.index[rows]]
        if np.count_nonzero(np.isfinite(seconds)) >= limit:
            break
    reachable = np.isfinite(seconds)
    rows, seconds = rows[reachable], seconds[reachable]
    # Ties (same node) are broken by kind then id, so answers are stable.
    order = np.lexsort((pool.ids[rows], pool.rank[rows], seconds))[:limit]
    picked = rows[order]
    _, _, straight = _geod().inv(pool.lonlat[picked, 0], pool.lonlat[picked, 1],
                                 np.full(len(picked), lon), np.full(len(picked), lat))
    out = []
    for j, r in enumerate(picked):
        coords, length = graph.route(int(pool.index[r]), pred)
        entry = {"id": int(pool.ids[r]), "kind": pool.kind[r], "name": pool.names[r],
                 "travel_time_s": round(float(seconds[order[j]]), 1), "distance_m": round(float(straight[j]), 1),
                 "route_length_m": round(length, 1), "snap_m": round(float(pool.snap_m[r]), 1),
                 "location": [round(float(pool.lonlat[r, 0]), 7), round(float(pool.lonlat[r, 1]), 7)],
                 "route": _line(coords)}
        if pool.status[r] is not None:
            entry["status"] = pool.status[r]
        out.append(entry)
    return {"origin": origin.as_json(graph), "kinds": kinds, "resources": out}


def travel_time_to(conn: Connection, kind: str, resource_id: int, lon: float, lat: float) -> float | None:
    """Drive time of one resource to (lon, lat), ``None`` when either end is off the network."""
    try:
        graph, origin = locate(conn, lon, lat)
    except Unroutable:
        return None
    node = conn.execute(text("SELECT node_id FROM resource_snaps WHERE kind = :k AND resource_id = :i"),
                        {"k": kind, "i": resource_id}).scalar()
    index = -1 if node is None else int(graph.index_of(np.array([node]))[0])
    if index < 0:
        return None
    dist, _ = graph.search(origin.index, towards=True)
    return float(dist[index]) if np.isfinite(dist[index]) else None


def parse_minutes(value: str | None) -> list[float]:
    allowed = f"1..{MAX_LIMITS} comma-separated minutes, each 1..{MAX_MINUTES}"
    if value is None or not value.strip():
        return [5.0, 10.0, 15.0, 30.0]
    try:
        minutes = sorted({float(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise InvalidInput("minutes", allowed, value=value) from None
    if not 1 <= len(minutes) <= MAX_LIMITS or not all(1 <= m <= MAX_MINUTES for m in minutes):
        raise InvalidInput("minutes", allowed, value=value)  # NaN fails the range test too
    return minutes


def isochrone_collection(conn: Connection, lon: float, lat: float, minutes: list[float], *, towards: bool = True,
                         snap_limit_m: float = DEFAULT_SNAP_LIMIT_M) -> dict[str, Any]:
    """GeoJSON FeatureCollection, one (Multi)Polygon per limit, smallest first; see ``isochrone`` for how."""
    graph, origin = locate(conn, lon, lat, snap_limit_m)
    found = build_isochrones(graph, origin.index, [m * 60.0 for m in minutes], towards=towards)
    features = [{"type": "Feature", "id": f"{m:g}min",
                 "properties": {"minutes": m, "seconds": iso.seconds, "reached_nodes": iso.reached_nodes,
                                "area_km2": round(iso.area_m2 / 1e6, 3), "discs": iso.discs, "holes": iso.holes},
                 "geometry": mapping(iso.geometry) if not iso.geometry.is_empty else None}
                for m, iso in zip(minutes, found, strict=True)]
    return {"type": "FeatureCollection", "features": features, "origin": origin.as_json(graph),
            "direction": "to" if towards else "from",
            "construction": "network service area: roads drivable within the time plus 250 m, contoured from a "
                            "50 m time grid; corrected with discs/holes so that exactly the reached road nodes "
                            "are inside (emergency/dispatch/isochrone.py)"}
