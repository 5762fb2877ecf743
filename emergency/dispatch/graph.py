"""The routable road graph held in memory (scipy CSR), cached per process and database, invalidated on change.

Why in memory: one Dijkstra over the whole scale-20 network (~100k nodes, ~390k directed edges) takes ~20 ms in
``scipy.sparse.csgraph``, while one ``pgr_dijkstraCost`` call spends ~450 ms just reading the edges SQL and
building its graph (see ``bench/reports/dispatch.md``). The graph is rebuilt when ``routing_versions.roads``
changes — a database trigger bumps it on every write to ``roads`` — so edits are seen by every worker on its next
query, at the price of one tiny version read per query.

Edge semantics are pgRouting's: ``cost_s`` for source→target, ``reverse_cost_s`` for target→source, a negative
cost means "no passage" (one-way). Parallel edges are reduced to the cheapest one per direction.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import text
from sqlalchemy.engine import Connection

_EDGES_SQL = text("SELECT id, source, target, cost_s, reverse_cost_s, length_m, ST_AsBinary(geom) FROM roads")
VERSIONS_SQL = text(
    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database()) AS db_oid, "
    "(SELECT version FROM routing_versions WHERE scope = 'roads') AS roads, "
    "(SELECT version FROM routing_versions WHERE scope = 'resources') AS resources"
)


@dataclass(frozen=True)
class Arc:
    """Directed arcs of one search direction, aligned with the CSR entries of ``matrix``."""

    matrix: csr_matrix  # matrix[a, b] = seconds from a to b in this search direction
    tail: np.ndarray  # a (graph index) per CSR entry
    edge: np.ndarray  # row index into RoadGraph's edge arrays per CSR entry
    along: np.ndarray  # True when a is the road's source (geometry runs a→b)


@dataclass(frozen=True)
class RoadGraph:
    node_ids: np.ndarray  # sorted pgRouting vertex ids; graph index i ↔ node_ids[i]
    node_xy: np.ndarray  # (n, 2) lon/lat (CGCS2000)
    edge_ids: np.ndarray
    edge_length_m: np.ndarray
    edge_offsets: np.ndarray  # coords of edge k are coords[edge_offsets[k]:edge_offsets[k + 1]]
    coords: np.ndarray
    forward: Arc  # travel as driven: used for "from the incident"
    backward: Arc  # the reversed graph: a Dijkstra from the incident gives times *to* the incident
    # Derived data computed on first use (e.g. coordinates projected to a metric zone), dropped with the graph.
    scratch: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def size(self) -> int:
        return len(self.node_ids)

    def index_of(self, node_ids: np.ndarray) -> np.ndarray:
        """Graph indices of pgRouting node ids; -1 for ids not in the graph."""
        node_ids = np.asarray(node_ids, dtype=np.int64)
        pos = np.searchsorted(self.node_ids, node_ids)
        if self.size == 0:
            return np.full(node_ids.shape, -1)
        pos = np.clip(pos, 0, self.size - 1)
        return np.where(self.node_ids[pos] == node_ids, pos, -1)

    def search(self, origin: int, *, towards: bool, limit: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """(seconds, predecessors) of a Dijkstra from graph index ``origin``.

        ``towards=True`` searches the reversed graph, so ``seconds[i]`` is the drive from i *to* the origin and
        ``predecessors[i]`` is the next node on that drive.
        """
        arc = self.backward if towards else self.forward
        dist, pred = dijkstra(arc.matrix, directed=True, indices=origin, return_predecessors=True, limit=limit)
        return dist, pred

    def edge_coords(self, k: int) -> np.ndarray:
        return self.coords[self.edge_offsets[k]:self.edge_offsets[k + 1]]

    def arc_between(self, a: int, b: int) -> tuple[int, bool]:
        """(edge row, geometry runs a→b) of the cheapest arc a→b as driven."""
        arc = self.forward
        start, stop = arc.matrix.indptr[a], arc.matrix.indptr[a + 1]
        j = start + int(np.searchsorted(arc.matrix.indices[start:stop], b))
        if j >= stop or arc.matrix.indices[j] != b:
            raise KeyError(f"no arc {a}->{b}")
        return int(arc.edge[j]), bool(arc.along[j])

    def route(self, start: int, pred: np.ndarray) -> tuple[np.ndarray, float]:
        """Lon/lat coordinates and length (m) of the drive from ``start`` following ``pred`` to the origin."""
        parts: list[np.ndarray] = []
        length = 0.0
        node = start
        guard = self.size + 1
        while pred[node] >= 0 and guard:
            nxt = int(pred[node])
            k, along = self.arc_between(node, nxt)
            xy = self.edge_coords(k)
            parts.append((xy if along else xy[::-1])[1 if parts else 0:])
            length += float(self.edge_length_m[k])
            node, guard = nxt, guard - 1
        if not parts:
            return np.array([self.node_xy[start], self.node_xy[start]]), 0.0
        return np.concatenate(parts), length


def _arc(n: int, tail: np.ndarray, head: np.ndarray, cost: np.ndarray, edge: np.ndarray, along: np.ndarray) -> Arc:
    # Cheapest arc per (tail, head): sort by tail, head, cost and keep the first of each group.
    order = np.lexsort((cost, head, tail))
    tail, head, cost, edge, along = tail[order], head[order], cost[order], edge[order], along[order]
    first = np.ones(len(tail), dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    tail, head, cost, edge, along = tail[first], head[first], cost[first], edge[first], along[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
    matrix = csr_matrix((cost.astype(np.float64), head.astype(np.int32), indptr), shape=(n, n))
    return Arc(matrix, tail, edge, along)


def build_graph(rows: list) -> RoadGraph:
    """Build the graph from ``(id, source, target, cost_s, reverse_cost_s, length_m, wkb)`` rows."""
    m = len(rows)
    ids = np.fromiter((r[0] for r in rows), np.int64, m)
    src = np.fromiter((r[1] for r in rows), np.int64, m)
    tgt = np.fromiter((r[2] for r in rows), np.int64, m)
    cost = np.fromiter((r[3] for r in rows), np.float64, m)
    rcost = np.fromiter((r[4] for r in rows), np.float64, m)
    length = np.fromiter((r[5] for r in rows), np.float64, m)
    geoms = shapely.from_wkb(np.array([bytes(r[6]) for r in rows], dtype=object)) if m else np.array([])
    coords, owner = shapely.get_coordinates(geoms, return_index=True) if m else (np.zeros((0, 2)), np.zeros(0))
    offsets = np.searchsorted(owner, np.arange(m + 1))
    node_ids = np.unique(np.concatenate([src, tgt]))
    n = len(node_ids)
    si, ti = np.searchsorted(node_ids, src), np.searchsorted(node_ids, tgt)
    node_xy = np.zeros((n, 2))
    if m:
        node_xy[si] = coords[offsets[:-1]]
        node_xy[ti] = coords[offsets[1:] - 1]
    fwd_ok, rev_ok = cost >= 0, rcost >= 0
    k = np.arange(m)
    tail = np.concatenate([si[fwd_ok], ti[rev_ok]])
    head = np.concatenate([ti[fwd_ok], si[rev_ok]])
    w = np.concatenate([cost[fwd_ok], rcost[rev_ok]])
    edge = np.concatenate([k[fwd_ok], k[rev_ok]])
    along = np.concatenate([np.ones(fwd_ok.sum(), bool), np.zeros(rev_ok.sum(), bool)])
    forward = _arc(n, tail, head, w, edge, along)
    # The reversed graph: arc head→tail with the same cost; its geometry runs tail→head, i.e. against it.
    backward = _arc(n, head, tail, w, edge, ~along)
    return RoadGraph(node_ids, node_xy, ids, length, offsets, coords, forward, backward)


class GraphCache:
    """One graph per database (keyed by its OID, so a re-created database never reuses a stale graph); a process
    talks to one database in production, the test suite to many, so only the last few are kept."""

    KEEP = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._graphs: dict[tuple[str, int], tuple[int, RoadGraph]] = {}

    def get(self, conn: Connection, db_key: tuple[str, int], roads_version: int) -> RoadGraph:
        cached = self._graphs.get(db_key)
        if cached and cached[0] == roads_version:
            return cached[1]
        # One builder at a time: concurrent first requests would otherwise each read the whole network.
        with self._lock:
            cached = self._graphs.get(db_key)
            if cached and cached[0] == roads_version:
                return cached[1]
            graph = build_graph(conn.execute(_EDGES_SQL).all())
            # The version was read before the edges, so the graph is at least that new: never stale-but-trusted.
            self._graphs.pop(db_key, None)
            self._graphs[db_key] = (roads_version, graph)
            while len(self._graphs) > self.KEEP:
                self._graphs.pop(next(iter(self._graphs)))
            return graph

    def clear(self) -> None:
        with self._lock:
            self._graphs.clear()


graphs = GraphCache()
