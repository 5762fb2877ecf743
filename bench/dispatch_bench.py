"""Benchmark of dispatch routing: nearest resources by travel time, and isochrones, three ways.

Run from the repository root (the databases must be migrated to revision 0002)::

    .venv/bin/python bench/dispatch_bench.py [--db URL] [--db-scale20 URL] [--queries 200] [--budget-s 120]

``--db`` defaults to the configured dev database (the scale-1 demo city); ``--db-scale20`` (or the environment
variable ``ONEMAP_BENCH_SCALE20_URL``) adds the scale-20 city. Incidents are seeded random points up to ~300 m
beside seeded random roads. Each (method, database) runs ``--queries`` incidents or until ``--budget-s`` seconds
have passed, whichever comes first (the slow baselines stop on the budget; the report gives each n). Wall-clock
times from ``time.perf_counter``; the first (cold) call, which builds the in-memory graph, is reported apart.

Methods for "nearest 10 by travel time" (kinds rescue_team, fire_station):

* **in-memory (chosen)** — ``emergency.dispatch.service.nearest_resources``: one SQL round trip (versions +
  ``emergency_snap``), one scipy Dijkstra on the cached CSR graph, routes from the predecessor tree.
* **API** — the same through the whole WSGI stack as a signed-in city dispatcher: authentication middleware, policy
  gate, row scope, Flask view and JSON encoding.
* **pgr_dijkstraCost one-to-many** — one ``pgr_dijkstraCost`` from the incident node to every candidate node on
  the reversed costs, then one many-to-one ``pgr_dijkstra`` for the 10 routes.
* **pgr_dijkstra per candidate** — the plain way: the 20 straight-line-nearest candidates, one ``pgr_dijkstra``
  each (it can miss a resource that is far in a straight line but near by road; agreement is reported).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import shapely  # noqa: E402
import sqlalchemy as sa  # noqa: E402

KINDS = ["rescue_team", "fire_station"]
MINUTES = [5.0, 10.0, 15.0, 30.0]
EDGES_REVERSED = "SELECT id, source, target, reverse_cost_s AS cost, cost_s AS reverse_cost FROM roads"
EDGES = "SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM roads"


def incidents(engine: sa.Engine, n: int, seed: int = 20261128) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        lines = shapely.from_wkb([bytes(r[0]) for r in conn.execute(sa.text(
            "SELECT ST_AsBinary(geom) FROM roads ORDER BY id")).all()])
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.integers(0, len(lines), n):
        p = shapely.line_interpolate_point(lines[i], rng.uniform(0, 1), normalized=True)
        out.append((p.x + rng.uniform(-0.003, 0.003), p.y + rng.uniform(-0.0027, 0.0027)))
    return out


def timed(fn: Callable[[float, float], object], points: list[tuple[float, float]], budget_s: float,
          ) -> tuple[list[float], list[object]]:
    samples, results = [], []
    start = time.perf_counter()
    for lon, lat in points:
        t = time.perf_counter()
        results.append(fn(lon, lat))
        samples.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s:
            break
    return samples, results


def _service(conn: sa.Connection) -> Callable[[float, float], object]:
    from access.policy.rowscope import LayerAccess
    from emergency.dispatch.service import nearest_resources

    city = LayerAccess.unrestricted()  # the service alone, city-wide (the API adds the caller's scope)

    def run(lon: float, lat: float) -> object:
        body = nearest_resources(conn, lon, lat, KINDS, 10, access=city)
        conn.rollback()  # end the read transaction, as a request's connection does
        return [(r["kind"], r["id"]) for r in body["resources"]]
    return run


def _api(url: str) -> Callable[[float, float], object]:
    from werkzeug.test import Client

    from app import create_app
    from bench.support import as_dispatcher

    # the whole stack (authentication, policy gate, row scope) as a signed-in city dispatcher
    app = as_dispatcher(create_app({"database": {"url": url}, "logging": {"level": "WARNING", "format": "json"}}))
    client = Client(app)

    def run(lon: float, lat: float) -> object:
        body = client.get(f"/api/emergency/nearest-resources?lon={lon}&lat={lat}&kinds={','.join(KINDS)}").get_json()
        return [(r["kind"], r["id"]) for r in body["resources"]]
    return run


_CANDIDATE_NODES = sa.text("SELECT kind, resource_id, node_id FROM resource_snaps WHERE kind = ANY(:k)")
_SNAP = sa.text("SELECT node_id FROM emergency_snap(ST_SetSRID(ST_MakePoint(:x, :y), 4490))")


def _one_to_many(conn: sa.Connection) -> Callable[[float, float], object]:
    def run(lon: float, lat: float) -> object:
        origin = conn.execute(_SNAP, {"x": lon, "y": lat}).scalar_one()
        cands = conn.execute(_CANDIDATE_NODES, {"k": KINDS}).all()
        nodes = sorted({c.node_id for c in cands})
        cost = dict(conn.execute(sa.text("SELECT end_vid, agg_cost FROM pgr_dijkstraCost(:e, :o, :t, true)"),
                                 {"e": EDGES_REVERSED, "o": origin, "t": nodes}).all())
        cost[origin] = 0.0
        order = list(RESOURCE_ORDER)
        ranked = sorted((cost.get(c.node_id, np.inf), order.index(c.kind), c.resource_id, c.kind, c.node_id)
                        for c in cands)[:10]
        starts = sorted({r[4] for r in ranked if r[4] != origin})
        conn.execute(sa.text("SELECT r.start_vid, ST_AsBinary(g.geom) FROM pgr_dijkstra(:e, :s, :o, true) r "
                             "JOIN roads g ON g.id = r.edge ORDER BY r.start_vid, r.path_seq"),
                     {"e": EDGES, "s": starts, "o": origin}).all()
        conn.rollback()
        return [(r[3], r[2]) for r in ranked]
    return run


def _per_candidate(conn: sa.Connection) -> Callable[[float, float], object]:
    knn = sa.text(" UNION ALL ".join(
        f"(SELECT '{k}' AS kind, r.id, s.node_id, r.geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4490) AS d "
        f"FROM {t} r JOIN resource_snaps s ON s.kind = '{k}' AND s.resource_id = r.id ORDER BY d LIMIT 20)"
        for k, t in (("rescue_team", "rescue_teams"), ("fire_station", "fire_stations"))) + " ORDER BY d LIMIT 20")

    def run(lon: float, lat: float) -> object:
        origin = conn.execute(_SNAP, {"x": lon, "y": lat}).scalar_one()
        order = list(RESOURCE_ORDER)
        ranked = []
        for c in conn.execute(knn, {"x": lon, "y": lat}).all():
            rows = conn.execute(sa.text("SELECT max(agg_cost + cost), count(*) FROM pgr_dijkstra(:e, :s, :o, true)"),
                                {"e": EDGES, "s": c.node_id, "o": origin}).one()
            ranked.append((rows[0] if rows[1] else 0.0, order.index(c.kind), c.id, c.kind))
        conn.rollback()
        return [(r[3], r[2]) for r in sorted(ranked)[:10]]
    return run


def _isochrones(conn: sa.Connection) -> Callable[[float, float], object]:
    from emergency.dispatch.service import isochrone_collection

    def run(lon: float, lat: float) -> object:
        body = isochrone_collection(conn, lon, lat, MINUTES)
        conn.rollback()
        return sum(f["properties"]["reached_nodes"] for f in body["features"])
    return run


def _driving_distance_hulls(conn: sa.Connection) -> Callable[[float, float], object]:
    """The PostGIS-only way, for comparison: pgr_drivingDistance + one ST_ConcaveHull per limit (not exact)."""
    sql = sa.text(
        "WITH dd AS (SELECT node, agg_cost FROM pgr_drivingDistance(:e, :o, :t, true)), "
        "nodes AS (SELECT DISTINCT ON (id) id, geom FROM (SELECT source AS id, ST_StartPoint(geom) AS geom FROM roads "
        "UNION ALL SELECT target, ST_EndPoint(geom) FROM roads) v ORDER BY id), "
        "pts AS (SELECT d.agg_cost, n.geom FROM dd d JOIN nodes n ON n.id = d.node) "
        "SELECT m, ST_AsBinary(ST_ConcaveHull(ST_Collect(geom), 0.2)) FROM pts, unnest(CAST(:m AS float8[])) m "
        "WHERE agg_cost <= m GROUP BY m")

    def run(lon: float, lat: float) -> object:
        origin = conn.execute(_SNAP, {"x": lon, "y": lat}).scalar_one()
        rows = conn.execute(sql, {"e": EDGES_REVERSED, "o": origin, "t": max(MINUTES) * 60,
                                  "m": [m * 60 for m in MINUTES]}).all()
        conn.rollback()
        return len(rows)
    return run


RESOURCE_ORDER = ("rescue_team", "depot", "shelter", "expert", "hospital", "fire_station")


def _stats(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000.0
    return {"n": len(ms), "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "mean": float(ms.mean()), "max": float(ms.max())}


def bench_database(label: str, url: str, queries: int, budget_s: float) -> list[dict]:
    from emergency.dispatch import service
    from emergency.dispatch.graph import graphs

    engine = sa.create_engine(url)
    points = incidents(engine, queries)
    rows = []
    with engine.connect() as conn:
        sizes = conn.execute(sa.text("SELECT (SELECT count(*) FROM roads), (SELECT count(*) FROM resource_snaps "
                                     "WHERE kind = ANY(:k))"), {"k": KINDS}).one()
        conn.rollback()
        graphs.clear()
        service._candidates.clear()
        t = time.perf_counter()
        _service(conn)(*points[0])
        cold = time.perf_counter() - t
        rows.append({"db": label, "method": "cold start (graph + candidates load, first query)",
                     "n": 1, "p50": cold * 1000, "p95": cold * 1000, "mean": cold * 1000, "max": cold * 1000,
                     "agree": "", "note": f"{sizes[0]:,} roads, {sizes[1]:,} candidates"})
        runs: list[tuple[str, Callable, str]] = [
            ("in-memory scipy (chosen)", _service(conn), "service call"),
            ("API GET /nearest-resources", _api(url), "whole stack: auth, policy gate, row scope, view, JSON"),
            ("pgr_dijkstraCost one-to-many", _one_to_many(conn), "+ one many-to-one pgr_dijkstra for routes"),
            ("pgr_dijkstra per candidate", _per_candidate(conn), "20 straight-line-nearest candidates"),
        ]
        truth: list[object] | None = None
        for name, fn, note in runs:
            samples, results = timed(fn, points, budget_s)
            if truth is None:
                truth = results
            agree = sum(a == b for a, b in zip(results, truth, strict=False))
            rows.append({"db": label, "method": name, **_stats(samples), "agree": f"{agree}/{len(results)}",
                         "note": note})
        for name, fn, note in [
            ("isochrones 5/10/15/30 min (chosen)", _isochrones(conn), "exact service-area polygons"),
            ("pgr_drivingDistance + ST_ConcaveHull", _driving_distance_hulls(conn), "hulls, not exact"),
        ]:
            samples, _ = timed(fn, points, budget_s / 2)
            rows.append({"db": label, "method": name, **_stats(samples), "agree": "", "note": note})
    engine.dispose()
    return rows


def report(rows: list[dict], args: argparse.Namespace) -> str:
    import pyproj
    import scipy

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        "# Dispatch routing benchmark",
        "",
        f"Generated by `bench/dispatch_bench.py` at {now}: up to {args.queries} seeded random incidents per method "
        f"and database, each method stopped after {args.budget_s:.0f} s (isochrones: half that); n is what ran.",
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, shapely "
        f"{shapely.__version__}, pyproj {pyproj.__version__}; {platform.machine()}, {os.cpu_count()} CPUs; the "
        "database on the same machine. Nearest 10 of kinds " + ", ".join(KINDS) + ". Load average at the start "
        f"{args.load[0]:.1f} / at the end {os.getloadavg()[0]:.1f} (the machine is shared: other work inflates "
        "every row alike).",
        "",
        "\"agree\" = queries whose top-10 (kind, id) list equals the in-memory answer.",
        "",
        "| database | method | n | p50 ms | p95 ms | mean ms | max ms | agree | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['db']} | {r['method']} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['mean']:.1f} | "
                     f"{r['max']:.1f} | {r['agree']} | {r['note']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="scale-1 demo city (default: the configured database)")
    parser.add_argument("--db-scale20", default=os.environ.get("ONEMAP_BENCH_SCALE20_URL"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / "dispatch.md")
    args = parser.parse_args(argv)
    args.load = os.getloadavg()
    if args.db is None:
        from core.config import load_config
        from core.db import database_url

        args.db = database_url(load_config())
    rows = bench_database("demo city (scale 1)", args.db, args.queries, args.budget_s)
    if args.db_scale20:
        rows += bench_database("scale 20", args.db_scale20, args.queries, args.budget_s)
    text = report(rows, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
