"""Benchmark: how fast the one-map console and the large screen draw, on the demo city and the scale-20 city.

Run from the repository root (needs Chromium and the private cluster with both databases)::

    .venv/bin/python bench/console_bench.py [--runs 3] [--out bench/reports/console.md]
        [--demo-url URL] [--scale20-url URL]

For each database the whole app is started in-process (werkzeug, threaded, free port, its own var directory so the
tile cache starts empty), then each page is loaded in a fresh browser context (no HTTP cache) once cold (MapProxy
renders every tile) and ``--runs`` times warm (tiles come from the cache). Measured in the page, from navigation
start:

* first map: the first frame drawn after a basemap tile arrived;
* all drawn: every visible layer drawn — the map's ``rendercomplete`` and the end of the last network response
  (the SSE stream excepted), whichever is later, once the network has been idle for 500 ms.

The report gives medians of the warm runs, and the cold run. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import as_dispatcher  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCENARIOS = [("console", "/", (1920, 1080)), ("screen", "/screen", (1920, 1080)), ("screen", "/screen", (3840, 2160))]
IDLE_MS = 500
TIMEOUT_S = 180


@dataclass
class Sample:
    first_map_ms: float
    all_drawn_ms: float
    requests: int
    tiles: int
    kbytes: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(url: str) -> Iterator[str]:
    from werkzeug.serving import make_server

    from app import create_app

    var = Path(tempfile.mkdtemp(prefix="onemap-console-bench-"))
    population = ROOT / "var" / "data" / "population.tif"
    if population.exists():
        (var / "data").mkdir()
        (var / "data" / "population.tif").symlink_to(population)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = as_dispatcher(create_app({"database": {"url": url}, "paths": {"var": str(var)},
                                     "server": {"public_url": base}, "logging": {"level": "WARNING", "format": "json"}}))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        thread.join(timeout=10)
        shutil.rmtree(var, ignore_errors=True)


MEASURE = """() => {
    const res = performance.getEntriesByType('resource').filter((e) => !e.name.includes('/api/events/stream'));
    const lastResponse = Math.max(0, ...res.map((e) => e.responseEnd));
    const t = window.onemap.timings;
    return {first: t.firstDraw, complete: t.renderComplete, last: lastResponse, requests: res.length,
            tiles: res.filter((e) => /\\/tiles\\/|\\/tiles\\/WebMercatorQuad\\//.test(e.name)).length,
            bytes: res.reduce((s, e) => s + (e.transferSize || 0), 0)};
}"""


def load_once(browser: Any, url: str, size: tuple[int, int]) -> Sample:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    inflight: set[Any] = set()
    last_change = [time.monotonic()]

    def started(request: Any) -> None:
        if "/api/events/stream" not in request.url:
            inflight.add(request)
            last_change[0] = time.monotonic()

    def ended(request: Any) -> None:
        inflight.discard(request)
        last_change[0] = time.monotonic()

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    try:
        page.goto(url)
        page.wait_for_function("() => window.onemap && window.onemap.renderComplete === true", timeout=TIMEOUT_S * 1000)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)
            quiet = (time.monotonic() - last_change[0]) * 1000 >= IDLE_MS
            if not inflight and quiet and page.evaluate("window.onemap.renderComplete === true"):
                break
        m = page.evaluate(MEASURE)
    finally:
        context.close()
    return Sample(first_map_ms=m["first"] or float("nan"), all_drawn_ms=max(m["complete"] or 0, m["last"]),
                  requests=m["requests"], tiles=m["tiles"], kbytes=m["bytes"] / 1024)


def run(databases: dict[str, str], runs: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for db_name, url in databases.items():
                with serve(url) as base:
                    for surface, path, size in SCENARIOS:
                        print(f"{db_name} {surface} {size[0]}x{size[1]} …", file=sys.stderr, flush=True)
                        cold = load_once(browser, base + path, size)
                        warm = [load_once(browser, base + path, size) for _ in range(runs)]
                        rows.append({"db": db_name, "surface": surface, "size": size, "cold": cold, "warm": warm})
        finally:
            browser.close()
    return rows


def _median(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def report(rows: list[dict[str, Any]], runs: int, counts: dict[str, int]) -> str:
    lines = [
        "# Console and large-screen drawing times",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/console_bench.py --runs {runs}` on "
        f"{platform.node()} ({os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}), "
        "Chromium headless (software rendering), app served by werkzeug (threaded) in the same process.",
        "",
        "Times in ms from navigation start. *warm*: median of the runs with MapProxy's tile cache filled by the cold "
        "run (each run in a fresh browser context, so no browser cache); *cold*: the first load on an empty tile cache. "
        "*first map*: first frame after a basemap tile arrived; *all drawn*: `rendercomplete` and network idle "
        "(the SSE stream excepted).",
        "",
        "Enterprises: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ".",
        "",
        "| database | page | viewport | first map (warm) | all drawn (warm) | first map (cold) | all drawn (cold) "
        "| requests | tiles | transferred |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        warm, cold = r["warm"], r["cold"]
        lines.append(
            f"| {r['db']} | {r['surface']} | {r['size'][0]}×{r['size'][1]} | {_median(warm, 'first_map_ms'):,.0f} "
            f"| {_median(warm, 'all_drawn_ms'):,.0f} | {cold.first_map_ms:,.0f} | {cold.all_drawn_ms:,.0f} "
            f"| {_median(warm, 'requests'):,.0f} | {_median(warm, 'tiles'):,.0f} | {_median(warm, 'kbytes') / 1024:,.1f} MB |")
    lines += ["", "Warm runs, all values (all drawn, ms):", ""]
    for r in rows:
        values = ", ".join(f"{s.all_drawn_ms:,.0f}" for s in r["warm"])
        lines.append(f"- {r['db']} {r['surface']} {r['size'][0]}×{r['size'][1]}: {values}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / "console.md")
    parser.add_argument("--demo-url", help="database of the demo city (default: the configured one)")
    parser.add_argument("--scale20-url", help="database of the scale-20 city (default: onemap_scale20 on the "
                                              "private cluster)")
    args = parser.parse_args(argv)
    import sqlalchemy as sa

    from core.config import load_config
    from core.db import database_url, private_cluster

    config = load_config()
    demo = args.demo_url or database_url(config)
    scale20 = args.scale20_url or private_cluster(config).url(dbname="onemap_scale20")
    databases = {"demo (scale 1)": demo, "scale 20": scale20}
    counts = {}
    for name, url in databases.items():
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            counts[name] = conn.execute(sa.text("SELECT count(*) FROM enterprises")).scalar_one()
        engine.dispose()
    rows = run(databases, args.runs)
    text = report(rows, args.runs, counts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
