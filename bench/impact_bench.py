"""Benchmark of impact analysis for an incident (issue 15: p95 under 2 s on the demo city and at ``--scale 20``).

Run from the repository root::

    .venv/bin/python bench/impact_bench.py [--db URL] [--db-scale20 URL] [--raster PATH] [--runs 40]

``--db`` defaults to the configured dev database; ``--db-scale20`` (or ``ONEMAP_BENCH_SCALE20_URL``) adds the
scale-20 city, ``--raster-scale20`` its population raster (default: the dev raster, which covers the same city).
Incidents are placed at seeded random hazard sources; each is analysed as a chlorine release (Gaussian plume,
3 kg/s, 2 m/s wind from a seeded random direction, stability D, urban) and as a 500 kg TNT explosion, with the
evacuation asked for.

Rows per database:

* **service** — what ``emergency.impact.service.run_impact`` computes, city-wide: the request parsed, the model,
  the zones, the area-weighted population of each zone, the sensitive targets, enterprises, hazard sources and
  roads inside, the evacuation (road graph without the zone's roads, Dijkstra from the exits, shelters by
  capacity). Left out, to leave the database as it was: the incident's row lock and the storing of the run with
  its timeline event (one INSERT each).
* **floor: intersect** — the bare PostGIS it is built on: for the same zones, one ``count(*)`` per layer of
  ``ST_Intersects`` with the zone (no lists, no scope).
* **floor: raster sum** — ``rasterio.mask`` of the population raster with the same zones, summed (cells whose
  centre is inside; no edge weighting).

The first call per database (which builds the in-memory road graph) is reported apart.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from shapely.geometry import shape  # noqa: E402

from bench.support import configured_db, write_report  # noqa: E402

LAYERS = ("sensitive_targets", "enterprises", "hazard_sources", "roads")
PLUME = {"chemical": "chlorine", "release_rate_g_s": 3000, "wind_speed_m_s": 2.0, "stability": "D",
         "terrain": "urban", "max_distance_m": 8000}
EXPLOSION = {"tnt_kg": 500}


def sites(engine: sa.Engine, n: int, seed: int = 20261208) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        points = conn.execute(sa.text("SELECT ST_X(geom), ST_Y(geom) FROM hazard_sources ORDER BY code")).all()
    rng = np.random.default_rng(seed)
    return [tuple(points[i]) for i in rng.integers(0, len(points), n)]


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1000, q)) if samples else float("nan")


def analyse(engine: sa.Engine, raster: Path, lon: float, lat: float, kind: str, body: dict[str, Any],
            ) -> tuple[float, dict[str, Any]]:
    """One analysis as ``run_impact`` makes it (request parsed, then model, zones, population, targets, evacuation)
    for an incident of ``kind`` at ``lon, lat``, read-only: (seconds, the run's result)."""
    from access.policy.rowscope import LayerAccess
    from emergency.impact import schemas
    from emergency.impact.service import _analyse

    incident = {"id": 0, "kind": kind, "lon": lon, "lat": lat, "enterprise_uscc": None}
    with engine.connect() as conn:
        start = time.perf_counter()
        req = schemas.parse({**body, "evacuate": True}, kind)
        _, result = _analyse(conn, incident, req, LayerAccess.unrestricted(), raster)
        seconds = time.perf_counter() - start
        conn.rollback()
    return seconds, result


def intersect_floor(engine: sa.Engine, zones: list[Any]) -> float:
    from layers.registry import default_registry

    start = time.perf_counter()
    with engine.connect() as conn:
        for zone in zones:
            wkb = zone.wkb
            for layer in LAYERS:
                table = default_registry().get(layer).table
                conn.execute(sa.text(
                    f"SELECT count(*) FROM \"{table}\" t, (SELECT ST_SetSRID(ST_GeomFromWKB(:g), 4490) AS g) z "
                    "WHERE t.geom && z.g AND ST_Intersects(t.geom, z.g)"), {"g": wkb}).scalar()
    return time.perf_counter() - start


def raster_floor(raster: Path, zones: list[Any]) -> float:
    import rasterio
    from rasterio.mask import mask

    start = time.perf_counter()
    with rasterio.open(raster) as ds:
        for zone in zones:
            data, _ = mask(ds, [zone.__geo_interface__], crop=True, filled=False)
            float(data.filled(0).sum())
    return time.perf_counter() - start


def bench_db(name: str, url: str, raster: Path, runs: int) -> tuple[list[str], dict[str, Any]]:
    engine = sa.create_engine(url)
    rows: list[str] = []
    facts: dict[str, Any] = {}
    points = sites(engine, runs)
    rng = np.random.default_rng(7)
    cold, _ = analyse(engine, raster, *points[0], "leak", {**PLUME, "wind_from_deg": 90})
    facts["cold_ms"] = cold * 1000
    for label, kind, make in (("plume (chlorine 3 kg/s)", "leak",
                               lambda: {**PLUME, "wind_from_deg": int(rng.integers(0, 360))}),
                              ("explosion (TNT 500 kg)", "explosion", lambda: dict(EXPLOSION))):
        service, inter, rast, persons, zones_n, shelters = [], [], [], [], [], []
        for lon, lat in points:
            seconds, run = analyse(engine, raster, lon, lat, kind, make())
            service.append(seconds)
            zones = [shape(f["geometry"]) for f in run["zones"]["features"]]
            inter.append(intersect_floor(engine, zones))
            rast.append(raster_floor(raster, zones))
            persons.append((run.get("population") or {}).get("persons") or 0)
            zones_n.append(len(zones))
            shelters.append(len((run.get("evacuation") or {}).get("assignments") or []))
        for what, samples in (("service (model + zones + population + targets + evacuation)", service),
                              ("floor: PostGIS intersect, 4 layers × zones", inter),
                              ("floor: raster sum (rasterio.mask) × zones", rast)):
            rows.append(f"| {name} | {label} | {what} | {len(samples)} | {percentile(samples, 50):.0f} | "
                        f"{percentile(samples, 95):.0f} | {max(samples) * 1000:.0f} |")
        facts[label] = {"persons_median": float(np.median(persons)), "zones": int(np.median(zones_n)),
                        "shelters_median": float(np.median(shelters)),
                        "p95_ms": percentile(service, 95)}
    with engine.connect() as conn:
        facts["sizes"] = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                          for t in (*LAYERS, "shelters")}
    engine.dispose()
    return rows, facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None)
    parser.add_argument("--db-scale20", default=os.environ.get("ONEMAP_BENCH_SCALE20_URL"))
    parser.add_argument("--raster", type=Path, default=ROOT / "var" / "data" / "population.tif")
    parser.add_argument("--raster-scale20", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / "impact.md")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    targets: list[tuple[str, str, Path]] = [("demo city", args.db or configured_db(), args.raster)]
    if args.db_scale20:
        targets.append(("scale 20", args.db_scale20, args.raster_scale20 or args.raster))
    rows, facts = [], {}
    for name, url, raster in targets:
        r, f = bench_db(name, url, raster, args.runs)
        rows += r
        facts[name] = f
    lines = [
        "# Impact analysis benchmark", "",
        f"Generated by `bench/impact_bench.py` at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC; Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; load average at the start "
        f"{load[0]:.1f}, at the end {os.getloadavg()[0]:.1f}. Times in ms; each service call is one analysis in a "
        "rolled-back transaction (see the script's docstring for what each row does).", "",
        "| database | model | what | n | p50 | p95 | max |", "|---|---|---|---:|---:|---:|---:|", *rows, "",
        "## Against the target (p95 under 2 s)", ""]
    for name, f in facts.items():
        lines.append(f"- {name} (rows: {', '.join(f'{k} {v:,}' for k, v in f['sizes'].items())}); first call, "
                     f"building the road graph: {f['cold_ms']:.0f} ms")
        for label in ("plume (chlorine 3 kg/s)", "explosion (TNT 500 kg)"):
            g = f[label]
            verdict = "**met**" if g["p95_ms"] < 2000 else "**missed**"
            lines.append(f"  - {label}: p95 {g['p95_ms']:.0f} ms — {verdict}; median {g['zones']} zones, "
                         f"{g['persons_median']:,.0f} persons, {g['shelters_median']:.0f} shelters assigned")
    return write_report(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
