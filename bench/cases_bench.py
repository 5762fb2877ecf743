"""Benchmark of the case engine at volume: work lists, transitions and the case layer's vector tiles.

Run from the repository root (a built demo database; the bench tops it up to the volume itself)::

    .venv/bin/python bench/cases_bench.py [--db URL] [--open-cases 10000] [--events 200000] [--requests 200]

``--db`` defaults to the configured dev database. The volume — ``--open-cases`` open hidden-danger cases and
``--events`` case events in all (closed cases count too) — is seeded in bulk by :mod:`bench.cases_seed` (set-based
SQL, rows as the engine would have written them, the events through the table's own hash-chain trigger), then the
tables are vacuumed and analysed. The bench moves cases (each transition takes a different rectifying case to verifying), so a
second run works on a slightly different mix; the seed tops the open cases up again.

Measured, each as a district regulator (the district with the most open cases) and as a city regulator:

* **work lists**: ``GET /api/cases/counts``, ``GET /api/cases?list=todo`` and ``?list=overdue`` — the service
  call (:mod:`supervision.cases.worklists`, with the identity and ``LayerAccess`` the tests build) and the same
  through the whole WSGI app (authentication middleware, policy gate, Flask view, JSON); target p95 < 100 ms;
* **a transition**: ``submit_report`` on a rectifying case (a different one each call) through
  ``POST /api/cases/<id>/transitions`` (and the service call alone); target p95 < 50 ms;
* **the case layer**: an MVT tile of ``hidden_dangers`` from pygeoapi through the app vs the raw ``ST_AsMVT``
  statement with the same fields and scope (the floor), interleaved; target: within 1.5× of the floor.

Rounds of all calls are interleaved (one of each per round), so every row sees the same machine state. Times are
wall-clock (``time.perf_counter``) in this process; the database on the same machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

TARGETS = {"list": 100.0, "transition": 50.0, "mvt_ratio": 1.5}


def _stats(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000.0
    return {"n": len(ms), "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "max": float(ms.max())}


def interleave(calls: dict[str, Callable[[int], Any]], rounds: int, budget_s: float, warm: int = 3
               ) -> dict[str, list[float]]:
    """One call of each per round, after ``warm`` untimed rounds; at most ``rounds`` rounds and ``budget_s``."""
    for i in range(warm):
        for fn in calls.values():
            fn(-1 - i)
    out: dict[str, list[float]] = {name: [] for name in calls}
    deadline = time.perf_counter() + budget_s
    for i in range(rounds):
        if time.perf_counter() > deadline:
            break
        for name, fn in calls.items():
            t = time.perf_counter()
            fn(i)
            out[name].append(time.perf_counter() - t)
    return out


# -- who ----------------------------------------------------------------------------------------------------
def callers(district: str) -> dict[str, tuple[Any, Any]]:
    """(Identity, LayerAccess) pairs as tests/integration/cases_support.py builds them."""
    from access.policy.rowscope import LayerAccess
    from access.policy.rules import Authz, load_policy
    from core.identity import Identity

    out = {}
    for label, role, d in (("district", "district_regulator", district), ("city", "city_regulator", None)):
        who = Identity(user_id=7, username=f"bench_{role}", roles=frozenset({role}), method="session",
                       district_code=d)
        out[label] = (who, LayerAccess(Authz(load_policy(), who)))
    return out


def apps(url: str, district: str) -> dict[str, Any]:
    from werkzeug.test import Client

    from app import create_app
    from bench.support import as_role

    config = {"database": {"url": url}, "logging": {"level": "WARNING", "format": "json"}}
    return {"district": Client(as_role(create_app(config), "district_regulator", district=district,
                                       username="bench_district_regulator")),
            "city": Client(as_role(create_app(config), "city_regulator", username="bench_city_regulator"))}


def _get(client: Any, path: str) -> Any:
    resp = client.get(path)
    if resp.status_code != 200:
        raise RuntimeError(f"GET {path} -> {resp.status_code}: {resp.get_data(as_text=True)[:300]}")
    return resp


# -- work lists ---------------------------------------------------------------------------------------------
def worklist_calls(engine: sa.Engine, clients: dict[str, Any], who: dict[str, tuple], config: dict
                   ) -> dict[str, Callable[[int], Any]]:
    from supervision.cases import worklists

    conn = engine.connect()
    calls: dict[str, Callable[[int], Any]] = {}
    for label, (identity, access) in who.items():
        def svc_counts(i: int, identity: Any = identity, access: Any = access) -> Any:
            out = worklists.counts(conn, access=access, identity=identity, config=config)
            conn.rollback()
            return out

        def svc_list(name: str, identity: Any = identity, access: Any = access) -> Callable[[int], Any]:
            def run(i: int) -> Any:
                out = worklists.listing(conn, {"list": name}, access=access, identity=identity, config=config)
                conn.rollback()
                return out
            return run

        client = clients[label]
        calls[f"{label} · counts · service"] = svc_counts
        calls[f"{label} · counts · API"] = lambda i, c=client: _get(c, "/api/cases/counts")
        for name in ("todo", "overdue"):
            calls[f"{label} · list={name} · service"] = svc_list(name)
            calls[f"{label} · list={name} · API"] = lambda i, c=client, n=name: _get(c, f"/api/cases?list={n}")
    return calls


# -- transitions --------------------------------------------------------------------------------------------
def transition_calls(engine: sa.Engine, clients: dict[str, Any], who: dict[str, tuple], config: dict,
                     district: str, rounds: int, warm: int) -> dict[str, Callable[[int], Any]]:
    """submit_report on rectifying cases, a different one each call (disjoint seeded samples per row)."""
    from supervision.cases import service

    with engine.connect() as c:
        local = c.execute(sa.text("SELECT id FROM cases WHERE case_type = 'hidden_danger' AND state = 'rectifying' "
                                  "AND district_code = :d ORDER BY id"), {"d": district}).scalars().all()
        other = c.execute(sa.text("SELECT id FROM cases WHERE case_type = 'hidden_danger' AND state = 'rectifying' "
                                  "AND district_code <> :d ORDER BY id"), {"d": district}).scalars().all()
    need = rounds + warm
    rng = random.Random(20261207)
    local, other = rng.sample(local, min(len(local), 2 * need)), rng.sample(other, min(len(other), 2 * need))
    if len(local) < 2 * need or len(other) < 2 * need:
        raise SystemExit(f"not enough rectifying cases for {need} rounds (district {len(local)}, elsewhere "
                         f"{len(other)}): lower --requests or seed more")
    pools = {"district · service": local[:need], "district · API": local[need:],
             "city · service": other[:need], "city · API": other[need:]}
    conn = engine.connect()

    def body(i: int) -> dict[str, Any]:
        return {"action": "submit_report", "form": {"completed_on": datetime.now(UTC).date().isoformat(),
                                                    "description": "整改完毕（基准测试）"}}

    def svc(label: str) -> Callable[[int], Any]:
        identity, access = who[label.split(" ")[0]]
        pool = pools[label]

        def run(i: int) -> Any:
            out = service.transition(conn, pool[i + warm], body(i), access=access, identity=identity, config=config)
            conn.rollback()
            return out
        return run

    def api(label: str) -> Callable[[int], Any]:
        client, pool = clients[label.split(" ")[0]], pools[label]

        def run(i: int) -> Any:
            resp = client.post(f"/api/cases/{pool[i + warm]}/transitions", json=body(i))
            if resp.status_code != 200:
                raise RuntimeError(f"transition -> {resp.status_code}: {resp.get_data(as_text=True)[:300]}")
            return resp
        return run

    return {f"{label} · submit_report": (svc if "service" in label else api)(label) for label in pools}


# -- the case layer as vector tiles -------------------------------------------------------------------------
def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def pick_tiles(engine: sa.Engine, district: str) -> list[tuple[int, int, int, int]]:
    """Two tiles around the densest spot of the district's hidden dangers: the deepest zoom (from 12 to 17) where
    the tile still holds at least 200 features, and the shallowest where it holds fewer than 1,000 — both "a few
    hundred", the small end and the large end (z, x, y, features)."""
    with engine.connect() as c:
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(geom), ST_Y(geom) FROM hidden_dangers WHERE district_code = :d GROUP BY geom "
            "ORDER BY count(*) DESC, ST_X(geom) LIMIT 1"), {"d": district}).one()
        found = []
        for z in range(12, 18):
            x, y = tile_xy(lon, lat, z)
            n = c.execute(sa.text("SELECT count(*) FROM hidden_dangers WHERE geom && "
                                  "ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)"), {"z": z, "x": x, "y": y}
                          ).scalar_one()
            found.append((z, x, y, n))
    small = [t for t in found if t[3] >= 200]
    large = [t for t in found if 200 <= t[3] < 1000]
    if not small or not large:
        raise SystemExit(f"no tile with a few hundred hidden dangers ({found}): seed more volume")
    return sorted({small[-1], large[0]})


def mvt_calls(url: str, clients: dict[str, Any], who: dict[str, tuple], tile: tuple[int, int, int, int]
              ) -> tuple[dict[str, Callable[[int], Any]], dict[str, int]]:
    """pygeoapi through the app vs the provider's own statement on a plain psycopg connection, per caller."""
    import mapbox_vector_tile
    import psycopg
    from sqlalchemy.engine import make_url

    from layers.registry import default_registry

    z, x, y, _n = tile
    layer = default_registry().get("hidden_dangers")
    cols = ", ".join(f't."{c}"' for c in ["id", *layer.mvt_properties])
    pg = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True)
    path = f"/ogcapi/collections/hidden_dangers/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"
    calls: dict[str, Callable[[int], Any]] = {}
    features: dict[str, int] = {}
    for label, (_identity, access) in who.items():
        where, params = access.where("hidden_dangers", alias="t")
        sql = (f"WITH env AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS m), "
               f"env_storage AS (SELECT ST_Transform(m, 4490) AS s FROM env), "
               f"rows AS (SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), env.m, 4096, 64, true) AS mvtgeom, {cols} "
               f"FROM hidden_dangers t, env, env_storage WHERE t.geom && env_storage.s AND "
               f"{_psycopg(where)}) "
               f"SELECT ST_AsMVT(rows.*, 'hidden_dangers', 4096, 'mvtgeom', 'id') FROM rows WHERE mvtgeom IS NOT NULL")
        values = {"z": z, "x": x, "y": y, **params}

        def floor(i: int, sql: str = sql, values: dict = values) -> bytes:
            return bytes(pg.execute(sql, values).fetchone()[0])

        client = clients[label]

        def stack(i: int, client: Any = client) -> bytes:
            return _get(client, path).get_data()

        got = mapbox_vector_tile.decode(stack(0))["hidden_dangers"]["features"]
        want = mapbox_vector_tile.decode(floor(0))["hidden_dangers"]["features"]
        if sorted(f["id"] for f in got) != sorted(f["id"] for f in want) or not got:
            raise RuntimeError(f"MVT {z}/{x}/{y} as {label}: the app has {len(got)} features, SQL {len(want)}")
        if sorted(got[0]["properties"]) != sorted(want[0]["properties"]):
            raise RuntimeError(f"MVT fields differ: app {sorted(got[0]['properties'])}, "
                               f"SQL {sorted(want[0]['properties'])}")
        features[label] = len(got)
        calls[f"{label} · z{z} · stack"] = stack
        calls[f"{label} · z{z} · floor"] = floor
    return calls, features


def _psycopg(where: str) -> str:
    """A SQLAlchemy ``:name`` predicate as psycopg ``%(name)s``."""
    import re

    return re.sub(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)", r"%(\1)s", where)


# -- the run ------------------------------------------------------------------------------------------------
def prepare(engine: sa.Engine, args: argparse.Namespace, config: dict) -> dict[str, Any]:
    from bench.cases_seed import counts, seed

    t = time.perf_counter()
    with engine.begin() as conn:
        added = seed(conn, open_cases=args.open_cases, events=args.events, unit=config["cases"]["issuing_unit"])
    seeded_s = time.perf_counter() - t
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("cases", "case_events", "case_clocks", "case_timers", "hidden_dangers", "supervised_listings",
                      "audit.audit_log"):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))   # the state autovacuum keeps them in
    with engine.connect() as conn:
        district, n_open = conn.execute(sa.text(
            "SELECT district_code, count(*) FROM cases WHERE closed_at IS NULL AND case_type = 'hidden_danger' "
            "GROUP BY district_code ORDER BY count(*) DESC, district_code LIMIT 1")).one()
        pg = conn.execute(sa.text("SHOW server_version")).scalar_one()
        states = dict(conn.execute(sa.text(
            "SELECT state, count(*) FROM cases WHERE case_type = 'hidden_danger' GROUP BY state")).all())
        facts = counts(conn)
        trips = []
        for _ in range(200):
            t = time.perf_counter()
            conn.execute(sa.text("SELECT 1")).scalar_one()
            trips.append(time.perf_counter() - t)
        conn.rollback()
    t = time.process_time()
    sum(i * i for i in range(1_000_000))   # a fixed piece of pure Python: how fast this CPU is right now
    calibration = {"select1": _stats(trips), "python_ms": (time.process_time() - t) * 1000}
    return {"calibration": calibration, "added": added, "seeded_s": seeded_s, "district": district, "district_open": n_open, "pg": pg,
            "states": states, "counts": facts}


def run(args: argparse.Namespace) -> str:
    from core.config import load_config
    from core.db import safe_url
    from supervision.cases import registry

    settings = load_config()
    registry.configure(settings)
    engine = sa.create_engine(args.db)
    facts = prepare(engine, args, settings)
    print(json.dumps({k: v for k, v in facts.items() if k not in ("added", "calibration")}, default=str),
          flush=True)
    district = facts["district"]
    who = callers(district)
    clients = apps(args.db, district)
    config = settings["cases"]
    rows: list[tuple[str, str, dict[str, float]]] = []

    samples = interleave(worklist_calls(engine, clients, who, config), args.requests, args.budget)
    rows += [("work list", name, _stats(v)) for name, v in samples.items()]
    samples = interleave(transition_calls(engine, clients, who, config, district, args.transitions, 3),
                         args.transitions, args.budget)
    rows += [("transition", name, _stats(v)) for name, v in samples.items()]
    tiles, features = pick_tiles(engine, district), {}
    for tile in tiles:
        calls, features[tile] = mvt_calls(args.db, clients, who, tile)
        samples = interleave(calls, args.requests, args.budget)
        rows += [("MVT", name, _stats(v)) for name, v in samples.items()]
    with engine.connect() as conn:
        end_counts = conn.execute(sa.text("SELECT count(*) FROM case_events")).scalar_one()
    engine.dispose()
    facts.update(tiles=tiles, features=features, url=safe_url(args.db), events_end=end_counts)
    return report(rows, facts, args)


def _verdicts(rows: list[tuple[str, str, dict[str, float]]]) -> list[str]:
    by = {name: s for _g, name, s in rows}
    out = []
    lists = [(n, s["p95"]) for g, n, s in rows if g == "work list"]
    worst = max(lists, key=lambda x: x[1])
    out.append(f"- work lists: worst p95 {worst[1]:.1f} ms ({worst[0]}) — target < {TARGETS['list']:.0f} ms: "
               f"**{'met' if worst[1] < TARGETS['list'] else 'missed'}**")
    moves = [(n, s["p95"]) for g, n, s in rows if g == "transition"]
    worst = max(moves, key=lambda x: x[1])
    out.append(f"- transition: worst p95 {worst[1]:.1f} ms ({worst[0]}) — target < {TARGETS['transition']:.0f} ms: "
               f"**{'met' if worst[1] < TARGETS['transition'] else 'missed'}**")
    for name in [n for g, n, _s in rows if g == "MVT" and n.endswith("stack")]:
        stack, floor = by[name], by[name.replace("stack", "floor")]
        r50, r95 = stack["p50"] / floor["p50"], stack["p95"] / floor["p95"]
        out.append(f"- MVT {name.removesuffix(' · stack')}: stack/floor {r50:.2f}× (p50), {r95:.2f}× (p95), "
                   f"{stack['p50'] - floor['p50']:.1f} ms over the floor (p50) — target ≤ "
                   f"{TARGETS['mvt_ratio']}×: **{'met' if max(r50, r95) <= TARGETS['mvt_ratio'] else 'missed'}**")
    return out


def report(rows: list[tuple[str, str, dict[str, float]]], facts: dict[str, Any], args: argparse.Namespace) -> str:
    from importlib.metadata import version

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    c, added = facts["counts"], facts["added"]
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(facts["states"].items()))
    cal = facts["calibration"]
    lines = [
        "# Case engine benchmark", "",
        f"Generated by `bench/cases_bench.py` at {now}. Database {facts['url']} (PostgreSQL {facts['pg']}, same "
        f"machine); Python {platform.python_version()}, Flask {version('flask')}, pygeoapi {version('pygeoapi')}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs; load average at the start {args.load[0]:.1f} / at the end "
        f"{os.getloadavg()[0]:.1f} (a shared machine: other work inflates every row alike). Calibration at the start: "
        f"a `SELECT 1` round trip p50 {cal['select1']['p50']:.2f} ms / p95 {cal['select1']['p95']:.2f} ms; "
        f"`sum(i * i for i in range(1_000_000))` took {cal['python_ms']:.0f} ms of CPU (roughly 50–80 ms on a "
        "recent, idle desktop core).", "",
        "## Volume", "",
        f"- {c['open_hidden_dangers']:,} open hidden-danger cases ({c['open_overdue']:,} open cases overdue), "
        f"{c['cases']:,} cases in all (with 挂牌督办 child cases), {facts['events_end']:,} case events at the end "
        f"({c['events']:,} before the timed transitions), {c['layer_rows']:,} rows in the `hidden_dangers` layer.",
        f"- hidden dangers by state: {states}.",
        f"- This run added {added['added_cases']:,} cases and {added['added_events']:,} events in "
        f"{facts['seeded_s']:.0f} s. The volume is **seeded in bulk** (`bench/cases_seed.py`: each case's life "
        "planned in Python with the engine's own deadline function, written set-based with COPY and INSERT … "
        "SELECT — cases, clocks, timers, events through their hash-chain trigger, the audit log's copies, the "
        "layer rows, the gapless codes and document numbers), not through the engine's transitions: the "
        "engine's correctness is covered by the tests (`tests/integration/test_cases_engine.py` and the others); "
        "the bench measures what the engine reads and writes at this volume. The tables are vacuumed and analysed after "
        "seeding (the state autovacuum keeps them in).",
        f"- District regulator: district {facts['district']} (the most open cases: "
        f"{facts['district_open']:,}); city regulator: city-wide.", "",
        "## Results", "",
        f"n = timed calls (after 3 untimed warm-up rounds; all rows of a group interleaved round by round; at most "
        f"{args.requests} rounds for lists and tiles, {args.transitions} for transitions, {args.budget:g} s per "
        "group). *service* = the Python call with the identity and `LayerAccess` the tests build (one SQLAlchemy "
        "connection, rolled back after each call as a request's is); *API* / *stack* = the whole WSGI app "
        "in-process (werkzeug test client: authentication middleware, policy gate, row scope, Flask view, JSON), "
        "the identity set in front of the gate (`bench/support.py` `as_role`).", "",
        "| group | call | n | p50 ms | p95 ms | max ms |", "|---|---|---:|---:|---:|---:|",
    ]
    for group, name, s in rows:
        lines.append(f"| {group} | {name} | {s['n']} | {s['p50']:.1f} | {s['p95']:.1f} | {s['max']:.1f} |")
    lines += ["", "Transition: `submit_report` (rectifying → verifying) on a different rectifying case each call: "
              "lock, checks, form schema, clocks (rectify stopped, verify started with its timers), event through "
              "the hash chain, audit record, layer row, commit, then the case detail the API answers with.", "",
              "MVT: `hidden_dangers` WebMercatorQuad "
              + "; ".join(f"{z}/{y}/{x} ({n} features in the tile's box; decoded: "
                          + ", ".join(f"{k} {v}" for k, v in facts["features"][(z, x, y, n)].items()) + ")"
                          for z, x, y, n in facts["tiles"])
              + "; *stack* = `GET /ogcapi/collections/hidden_dangers/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt` "
              "through the app; *floor* = the provider's `ST_AsMVT` statement with the same fields and the same "
              "row scope on one psycopg connection.", "", "## Against the targets (issue 13)", ""]
    lines += _verdicts(rows)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: the configured dev database)")
    parser.add_argument("--open-cases", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200, help="rounds for lists and tiles (default 200)")
    parser.add_argument("--transitions", type=int, default=200, help="rounds of transitions (default 200)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per group at most (default 120)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / "cases.md")
    args = parser.parse_args(argv)
    args.load = os.getloadavg()
    if args.db is None:
        from core.config import load_config
        from core.db import database_url

        args.db = database_url(load_config())
    from bench.support import write_report

    return write_report(args.out, run(args))


if __name__ == "__main__":
    raise SystemExit(main())
