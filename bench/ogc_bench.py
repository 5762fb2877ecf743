"""Benchmark: what the OGC stack costs over its floor, measured side by side over real HTTP on loopback.

Run from the repository root (the dev database by default; ``--scale-db`` for another one, e.g. scale 20)::

    .venv/bin/python bench/ogc_bench.py [--requests 200] [--budget 60] [--scale-db URL] [--token TOKEN]

The whole app runs under gunicorn (gthread workers, as ``onemap serve`` does) on a free 127.0.0.1 port with a
private var directory; its requests carry ``Authorization: Bearer`` with ``--token`` (or ``ONEMAP_BENCH_TOKEN``),
else with a one-day ``ogc:read`` token minted for the first city-level account and revoked at the end. Each pair is
measured interleaved (stack, floor, stack, ...) after 3 untimed warm-up calls each, for at most ``--requests``
rounds and ``--budget`` seconds:

(a) a cached WMTS tile through gunicorn → MapProxy vs a private nginx serving the same file from MapProxy's cache;
(b) OGC API Features items (limit 10/100/1000, bbox) vs one SQL statement returning the same FeatureCollection;
(c) an MVT tile from pygeoapi vs the raw ``ST_AsMVT`` statement;
(d) an uncached 256 px WMS GetMap through ``/ows`` vs the same request straight to a kept-running ``mapserv``
    (FastCGI, the bridge's own pool class, no HTTP, no gate);
(e) the same GetMap straight to a kept-running ``mapserv`` vs ``mapserv`` started for the request (CGI, fork+exec,
    as the bridge ran it before mapserver/fcgi.py): what keeping the processes saves.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BBOX = (118.95, 31.95, 119.05, 32.05)  # lon/lat; ~1,650 enterprises at scale 1
CENTRE = (119.0, 32.0)
WORKERS, THREADS = 2, 4
MAPSERV = "/usr/lib/cgi-bin/mapserv"
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


class Http:
    """One keep-alive connection to a loopback port (no proxies, no redirects: exactly one request per call)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> bytes:
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers=self.headers)
                resp = self.conn.getresponse()
                body = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed an idle keep-alive connection: reconnect once
                if attempt == 2:
                    raise
        if resp.status != 200 or not body:
            raise RuntimeError(f"GET :{self.port}{path} -> {resp.status}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self.conn.close()


@dataclass
class Result:
    name: str
    what: str
    stack: list[float]
    floor: list[float]


def measure(name: str, what: str, stack: Callable[[int], Any], floor: Callable[[int], Any], rounds: int,
            budget: float) -> Result:
    """Interleave stack and floor calls (``i`` = round number) so both see the same machine state."""
    for i in range(3):
        stack(-1 - i)
        floor(-1 - i)
    a: list[float] = []
    b: list[float] = []
    deadline = time.perf_counter() + budget
    for i in range(rounds):
        if time.perf_counter() > deadline:
            break
        t = time.perf_counter()
        stack(i)
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        floor(i)
        b.append(time.perf_counter() - t)
    print(f"  {name}: n={len(a)} stack {statistics.median(a) * 1e3:.2f} ms, "
          f"floor {statistics.median(b) * 1e3:.2f} ms", flush=True)
    return Result(name, what, a, b)


# -- servers ------------------------------------------------------------------------------------------------------
def wait_until_up(port: int, proc: subprocess.Popen, log: Path) -> None:
    """Until the port answers HTTP at all (any status: the policy gate may refuse an anonymous probe)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}); log tail:\n{log.read_text()[-3000:]}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.5)
        finally:
            conn.close()
    raise RuntimeError(f"server on :{port} not up after {START_TIMEOUT:.0f} s; log tail:\n"
                       f"{log.read_text()[-3000:]}")


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
            "--threads", str(THREADS), "--worker-class", "gthread", "--timeout", "120", "app:create_app()"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_until_up(port, proc, log)
    return proc


def ensure_nginx() -> str:
    """The nginx binary; installed with apt-get (as root) when missing."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"  # /usr/sbin is not on every PATH
    if Path(found).exists():
        return found
    if os.geteuid() != 0:
        raise SystemExit("nginx is not installed and this is not root: apt-get install nginx, then re-run")
    print("installing nginx (apt-get) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"]
    if subprocess.run(cmd, env=env, check=False, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, timeout=600)
        subprocess.run(cmd, env=env, check=True, timeout=600)
    return shutil.which("nginx") or "/usr/sbin/nginx"


def start_nginx(binary: str, work: Path, port: int, location: str, directory: Path) -> subprocess.Popen:
    """A private nginx (foreground, own prefix/pid/logs) serving ``directory`` at URL prefix ``location``."""
    for sub in ("tmp", "logs"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    temp = "\n".join(f"  {k}_temp_path {work}/tmp/{k};"
                     for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = work / "nginx.conf"
    conf.write_text(f"""daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
{temp}
  access_log off; sendfile on; keepalive_timeout 60; types {{ image/png png; }}
  server {{ listen 127.0.0.1:{port}; location {location} {{ alias {directory}/; }} }}
}}
""", encoding="utf-8")
    log = (work / "logs" / "stdout.log").open("wb")
    return subprocess.Popen([binary, "-p", str(work), "-e", str(work / "logs" / "error.log"), "-c", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # gunicorn and nginx both shut down (and reap their workers) on TERM
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def mint_token(db_url: str, config: dict[str, Any]) -> tuple[str, Callable[[], None]] | None:
    """A one-day ``ogc:read`` token of a city-level account and the function revoking it; None when the database
    has no accounts (a database from before authentication) or the auth module cannot mint one."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        from access.authn import tokens
        from access.settings import AuthSettings

        with engine.begin() as conn:
            user = None
            if conn.execute(sa.text("SELECT to_regclass('public.api_tokens')")).scalar() is not None:
                user = conn.execute(sa.text("SELECT user_id FROM user_roles WHERE role IN ('dispatcher', "
                                            "'city_regulator') ORDER BY user_id LIMIT 1")).scalar()
            if user is None:
                engine.dispose()
                return None
            token, record = tokens.create(conn, AuthSettings.from_config(config), user, "ogc_bench",
                                          ["ogc:read"], 1)
    except Exception as exc:  # noqa: BLE001 - any failure here means: run without a token and say so
        print(f"could not mint a token ({type(exc).__name__}: {exc}); calling the app anonymously", flush=True)
        engine.dispose()
        return None

    def revoke() -> None:
        with engine.begin() as conn:
            tokens.revoke(conn, record["id"], user)
        engine.dispose()

    return token, revoke


# -- the four pairs -----------------------------------------------------------------------------------------------
def find_cached(cache_dir: Path, body: bytes, z: int, x: int, y: int) -> Path:
    """The file MapProxy wrote for tile z/x/y (its layout is MapProxy's business: match by path end and bytes)."""
    candidates = [p for p in cache_dir.rglob(f"{y}.png")
                  if p.parent.name == str(x) and p.parent.parent.name == str(z)]
    matches = [p for p in candidates if p.read_bytes() == body]
    if len(matches) != 1:
        raise RuntimeError(f"expected one cached file for {z}/{x}/{y} under {cache_dir}, found {matches}")
    return matches[0]


def wmts_pair(app: Http, cache_dir: Path, work: Path, args: argparse.Namespace) -> tuple[Result, subprocess.Popen]:
    z = 14
    x, y = tile_xy(*CENTRE, z)
    path = f"/tiles/wmts/basemap/webmercator/{z}/{x}/{y}.png"
    body = app.get(path)  # renders and caches it
    cached = find_cached(cache_dir, body, z, x, y)
    port = free_port()
    # same URL as the app's: nginx maps /tiles/wmts/basemap/webmercator/ onto the cache directory of that grid
    nginx = start_nginx(ensure_nginx(), work / "nginx", port, "/tiles/wmts/basemap/webmercator/",
                        cached.parent.parent.parent)
    wait_until_up(port, nginx, work / "nginx" / "logs" / "error.log")
    static = Http(port)
    assert static.get(path) == body, "nginx serves a different file than MapProxy"
    result = measure("a. cached WMTS tile", f"basemap webmercator {z}/{x}/{y} ({len(body)} B PNG): gunicorn → "
                     "MapProxy (file cache hit) vs nginx sendfile", lambda i: app.get(path),
                     lambda i: static.get(path), args.requests, args.budget)
    static.close()
    return result, nginx


def items_pairs(app: Http, pg: Any, args: argparse.Namespace) -> list[Result]:
    sql = """
        WITH env AS (SELECT ST_MakeEnvelope(%(a)s, %(b)s, %(c)s, %(d)s, 4490) AS e),
        page AS (SELECT t.* FROM enterprises t, env WHERE ST_Intersects(env.e, t.geom) ORDER BY t.id LIMIT %(n)s)
        SELECT json_build_object(
            'type', 'FeatureCollection',
            'numberMatched', (SELECT count(*) FROM enterprises t, env WHERE ST_Intersects(env.e, t.geom)),
            'numberReturned', (SELECT count(*) FROM page),
            'features', coalesce(json_agg(json_build_object(
                'type', 'Feature', 'id', p.id, 'geometry', ST_AsGeoJSON(p.geom)::json,
                'properties', to_jsonb(p) - 'geom')), '[]'::json))::text
        FROM page p"""
    bbox = ",".join(map(str, BBOX))
    results = []
    for limit in (10, 100, 1000):
        # sorted by id on both sides, so that both return the same rows
        path = f"/ogcapi/collections/enterprises/items?f=json&limit={limit}&bbox={bbox}&sortby=id"
        params = dict(zip("abcd", BBOX, strict=True), n=limit)

        def floor(i: int, params: dict = params) -> bytes:
            return pg.execute(sql, params).fetchone()[0].encode()

        got, want = json.loads(app.get(path)), json.loads(floor(0))
        if [f["id"] for f in got["features"]] != [f["id"] for f in want["features"]] \
                or got["numberMatched"] != want["numberMatched"]:
            raise RuntimeError(f"limit {limit}: the app and SQL return different rows")
        results.append(measure(
            f"b. OGC API items limit={limit}",
            f"enterprises, bbox {bbox} ({want['numberMatched']} match), sorted by id: pygeoapi GeoJSON (CRS84) vs "
            "one SQL statement (count + json_agg of ST_AsGeoJSON, storage CRS)", lambda i, p=path: app.get(p),
            floor, args.requests, args.budget))
    return results


def mvt_pair(app: Http, pg: Any, fields: list[str], args: argparse.Namespace) -> Result:
    import mapbox_vector_tile

    z = 13
    x, y = tile_xy(*CENTRE, z)
    cols = ", ".join(f't."{c}"' for c in ["id", *fields])
    sql = (f"WITH env AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS m), "
           f"env_storage AS (SELECT ST_Transform(m, 4490) AS s FROM env), "
           f"rows AS (SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), env.m, 4096, 64, true) AS mvtgeom, {cols} "
           f"FROM enterprises t, env, env_storage WHERE t.geom && env_storage.s) "
           f"SELECT ST_AsMVT(rows.*, 'enterprises', 4096, 'mvtgeom', 'id') FROM rows WHERE mvtgeom IS NOT NULL")
    path = f"/ogcapi/collections/enterprises/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"

    def floor(i: int) -> bytes:
        return bytes(pg.execute(sql, {"z": z, "x": x, "y": y}).fetchone()[0])

    n_app = len(mapbox_vector_tile.decode(app.get(path))["enterprises"]["features"])
    n_sql = len(mapbox_vector_tile.decode(floor(0))["enterprises"]["features"])
    if n_app != n_sql or n_app == 0:
        raise RuntimeError(f"MVT {z}/{x}/{y}: app has {n_app} features, SQL {n_sql}")
    return measure("c. MVT tile", f"enterprises WebMercatorQuad {z}/{y}/{x} ({n_app} features): pygeoapi vs the "
                   "same ST_AsMVT statement", lambda i: app.get(path), floor, args.requests, args.budget)


def wms_pairs(app: Http, mapfile: Path, conf: Path, args: argparse.Namespace) -> list[Result]:
    from mapserver import fcgi

    rng = random.Random(20261128)
    boxes: dict[int, str] = {}

    def query(i: int) -> str:
        # a different 0.02° box every round (the same for every side), so nothing downstream can be a cache hit
        if i not in boxes:
            lon, lat = rng.uniform(118.75, 119.23), rng.uniform(31.82, 32.17)
            boxes[i] = f"{lat:.6f},{lon:.6f},{lat + 0.02:.6f},{lon + 0.02:.6f}"
        return ("SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=districts,roads,enterprises&STYLES=&CRS=EPSG:4490"
                f"&BBOX={boxes[i]}&WIDTH=256&HEIGHT=256&FORMAT=image/png")

    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MAPSERVER_CONFIG_FILE": str(conf), "MS_MAPFILE": str(mapfile)}
    pool = fcgi.Pool([MAPSERV], env, size=1)

    def png(out: bytes) -> bytes:
        if b"image/png" not in out[:200]:
            raise RuntimeError(f"mapserv: {out[:300]!r}")
        return out

    def kept(i: int) -> bytes:
        run = fcgi.Exchange(pool, {**env, "REQUEST_METHOD": "GET", "QUERY_STRING": query(i)}, b"", 60)
        try:
            return png(b"".join(iter(run.read, b"")))
        finally:
            run.finish()

    def started(i: int) -> bytes:
        cgi = {**env, "REQUEST_METHOD": "GET", "QUERY_STRING": query(i)}
        return png(subprocess.run([MAPSERV], env=cgi, capture_output=True, timeout=60, check=True).stdout)

    what = "256×256 PNG, districts+roads+enterprises, a new 0.02° EPSG:4490 box per round: "
    try:
        return [measure("d. uncached WMS GetMap", what + "gunicorn → /ows bridge → pooled mapserv vs the same "
                        "request straight to a kept-running mapserv (FastCGI)",
                        lambda i: app.get("/ows?" + query(i)), kept, args.requests, args.budget),
                measure("e. mapserv kept vs started", what + "a kept-running mapserv (FastCGI) vs mapserv started "
                        "for the request (CGI, fork+exec)", kept, started, args.requests, args.budget)]
    finally:
        pool.close()


# -- report -------------------------------------------------------------------------------------------------------
def report(results: list[Result], meta: dict[str, str]) -> str:
    lines = ["# OGC stack vs floor benchmark", "",
             f"Generated by `bench/ogc_bench.py` at {meta['when']}. {meta['where']}", "",
             meta["how"], "",
             "| pair | n | stack median ms | stack p95 ms | floor median ms | floor p95 ms | ratio (median) "
             "| ratio (p95) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        sm, fm = statistics.median(r.stack), statistics.median(r.floor)
        # nearest-rank 95th percentile
        sp, fp = (sorted(v)[math.ceil(0.95 * len(v)) - 1] for v in (r.stack, r.floor))
        lines.append(f"| {r.name} | {len(r.stack)} | {sm * 1e3:.2f} | {sp * 1e3:.2f} | {fm * 1e3:.2f} | "
                     f"{fp * 1e3:.2f} | {sm / fm:.1f}× | {sp / fp:.1f}× |")
    lines += ["", "What each pair measures:", ""]
    lines += [f"- **{r.name}**: {r.what}" for r in results]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed rounds per pair (default 200)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per pair at most (default 60)")
    parser.add_argument("--scale-db", metavar="URL", help="database URL (default: the configured dev database)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / "ogc.md")
    parser.add_argument("--token", default=os.environ.get("ONEMAP_BENCH_TOKEN"),
                        help="API token for the app (default: $ONEMAP_BENCH_TOKEN, else one minted for the run)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.budget <= 0:
        parser.error("--requests and --budget must be positive")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import psycopg
    from sqlalchemy.engine import make_url

    from core.config import load_config
    from core.db import database_url, safe_url
    from layers.registry import default_registry
    from mapserver.build import ensure_built

    db_url = args.scale_db or database_url(load_config())
    work = Path(tempfile.mkdtemp(prefix="onemap-ogc-bench-", dir="/var/tmp"))
    work.chmod(0o755)  # nginx's worker user must reach the tile cache inside it
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "ONEMAP_VAR": str(work / "var"), "PORT": str(port),
           "ONEMAP_PUBLIC_URL": f"http://127.0.0.1:{port}", "ONEMAP_LOG_LEVEL": "WARNING"}
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(var, None)
    config = load_config(environ=env)
    files = ensure_built(config)  # once, here: the gunicorn workers then find it built instead of racing
    pg_url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    gunicorn = nginx = None
    minted = None if args.token else mint_token(db_url, config)
    token = args.token or (minted[0] if minted else None)
    credential = ("`--token`" if args.token else "a token minted for the run" if minted else "none (anonymous)")
    results: list[Result] = []
    try:
        with psycopg.connect(pg_url, autocommit=True) as pg:
            enterprises = pg.execute("SELECT count(*) FROM enterprises").fetchone()[0]
            print(f"database {safe_url(db_url)}: {enterprises} enterprises; app on :{port}; credential: "
                  f"{credential}", flush=True)
            gunicorn = start_gunicorn(env, port, work / "gunicorn.log")
            app = Http(port, token)
            result, nginx = wmts_pair(app, work / "var" / "cache" / "tiles", work, args)
            results.append(result)
            results += items_pairs(app, pg, args)
            results.append(mvt_pair(app, pg, default_registry().get("enterprises").field_names, args))
            results += wms_pairs(app, files["mapserver.mapfile"], files["mapserver.mapserver_conf"], args)
            app.close()
            nginx_version = subprocess.run([ensure_nginx(), "-v"], capture_output=True, text=True).stderr.strip()
    except Exception:
        log = work / "gunicorn.log"  # the app's side of the story, before the directory goes
        print(f"app log tail:\n{log.read_text(errors='replace')[-4000:] if log.exists() else '(none)'}", flush=True)
        raise
    finally:
        stop(nginx)
        stop(gunicorn)
        if minted:
            minted[1]()
        shutil.rmtree(work, ignore_errors=True)
    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "where": f"Database {safe_url(db_url)} ({enterprises:,} enterprises); Python {platform.python_version()}, "
                 f"{nginx_version}, MapServer 8 (FastCGI behind /ows), {platform.machine()}, {os.cpu_count()} CPUs.",
        "how": f"App: gunicorn ({WORKERS} gthread workers × {THREADS} threads) serving the whole WSGI app on "
               "127.0.0.1; one client, one keep-alive connection, one request at a time; stack and floor calls "
               f"interleaved after 3 warm-up calls each; at most {args.requests} rounds and {args.budget:g} s per "
               f"pair; app credential: {credential}. Load average at the end: {os.getloadavg()[0]:.1f}. SQL floors run over one psycopg connection (no HTTP); the "
               "nginx floor is HTTP from the same client. Times are client wall-clock (`time.perf_counter`).",
    }
    text = report(results, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
