"""Seed MapProxy's tile caches for an area, and export an area to MBTiles or GeoPackage for offline use.

Both run in-process on MapProxy's own machinery and the configuration the server uses: its tile managers render
metatiles with ``mapserv`` under the server's tile locks, its seeder's tile walker picks the metatiles an area
needs, so a seeded or exported tile is the very tile ``/tiles`` serves. Work runs in threads, not in the seeder's
forked processes: ``mapserv`` is a process of its own anyway, and forking a multi-threaded process is unsafe.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import Conflict, DomainError, InvalidInput
from mapserver import mapproxy_config as mpc

LonLatBox = tuple[float, float, float, float]
FORMATS = {"mbtiles": "mbtiles", "geopackage": "geopackage", "gpkg": "geopackage"}


@dataclass(frozen=True)
class Area:
    """A lon/lat box (EPSG:4490) clipped to the tile sources' coverage, with a label for messages."""

    bbox: LonLatBox
    label: str


@dataclass
class SeedReport:
    layers: list[str]
    grids: list[str]
    zooms: range
    area: Area
    tiles_in_area: int = 0  # tiles touching the area, over every layer, grid and zoom
    tiles_created: int = 0  # tile files this run wrote that were not cached before (metatile neighbours included)
    metatiles_rendered: int = 0
    by_cache: dict[str, int] = field(default_factory=dict)  # "<layer>/<grid>" -> tiles created


@dataclass
class ExportReport:
    layer: str
    grid: str
    fmt: str
    path: Path
    zooms: range
    area: Area
    tiles: int  # tiles written to the package
    size_bytes: int


# -- validation -------------------------------------------------------------------------------------------------
def check_layers(layers: Sequence[str]) -> list[str]:
    from layers.registry import default_registry

    known = mpc.tiled_layers(default_registry())
    chosen = list(dict.fromkeys(name.strip() for name in layers if name.strip())) or [""]
    for name in chosen:
        if name not in known:
            raise InvalidInput("layers", ", ".join(known), f"unknown tiled layer {name!r}; tiled layers: "
                               f"{', '.join(known)}", f"未知的切片图层 {name!r}；可切片图层：{'、'.join(known)}",
                               value=name)
    return chosen


def check_grids(grids: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(grids)) or [""]
    for grid in chosen:
        if grid not in mpc.GRIDS:
            raise InvalidInput("grid", " or ".join(mpc.GRIDS), value=grid)
    return chosen


def check_zooms(zooms: range, grids: Sequence[str]) -> list[int]:
    top = min(mpc.grid_levels(g) for g in grids) - 1
    if not isinstance(zooms, range) or zooms.step != 1 or not zooms or zooms.start < 0 or zooms[-1] > top:
        text = f"{zooms.start}-{zooms.stop - 1}" if isinstance(zooms, range) else str(zooms)
        raise InvalidInput("zoom", f"a range within 0-{top}", f"zoom {text} is empty or beyond the grid "
                           f"({', '.join(grids)}: levels 0-{top})", f"缩放级别 {text} 为空或超出瓦片网格范围（0-{top}）")
    return list(zooms)


def check_bbox(bbox: Sequence[float]) -> LonLatBox:
    """A lon/lat box inside the sources' coverage, clipped to it; refuses empty and out-of-range boxes."""
    cx0, cy0, cx1, cy1 = mpc.SOURCE_COVERAGE
    allowed = f"minlon,minlat,maxlon,maxlat (EPSG:4490), min < max, overlapping {cx0:g}-{cx1:g}°E {cy0:g}-{cy1:g}°N"
    try:
        values = [float(v) for v in bbox]
    except (TypeError, ValueError):
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInput("bbox", allowed, value=",".join(map(str, bbox)))
    x0, y0, x1, y1 = values
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise InvalidInput("bbox", allowed, f"empty or invalid area {x0:g},{y0:g},{x1:g},{y1:g}; allowed: {allowed}",
                           f"区域为空或无效：{x0:g},{y0:g},{x1:g},{y1:g}")
    clipped = (max(x0, cx0), max(y0, cy0), min(x1, cx1), min(y1, cy1))
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        raise InvalidInput("bbox", allowed, f"area {x0:g},{y0:g},{x1:g},{y1:g} is outside the tile sources' "
                           "coverage: nothing to render", f"区域 {x0:g},{y0:g},{x1:g},{y1:g} 不在切片数据范围内")
    return clipped


def district_area(config: Mapping[str, Any], code: str) -> Area:
    """The extent of district ``code`` (GB/T 2260) from the ``districts`` table."""
    import sqlalchemy as sa

    from core.db import DatabaseUnavailable, get_engine

    if not re.fullmatch(r"\d{6}", code or ""):
        raise InvalidInput("district", "a 6-digit GB/T 2260 code, e.g. 329902", value=code)
    try:
        with get_engine(dict(config)).connect() as conn:
            row = conn.execute(sa.text(
                "select name, st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e) from "
                "(select name, st_extent(geom) as e from districts where code = :c group by name) as d"),
                {"c": code}).first()
            known = [] if row else [f"{c} {n}" for c, n in conn.execute(
                sa.text("select code, name from districts order by code limit 20"))]
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseUnavailable(f"cannot read districts: {reason}", f"无法读取行政区划：{reason}") from None
    if row is None:
        listing = "; ".join(known) or "none loaded"
        raise InvalidInput("district", listing, f"unknown district {code}; districts: {listing}",
                           f"未知的区县代码 {code}；现有区县：{listing}", value=code)
    name, *box = row
    return Area(check_bbox(box), f"district {code} {name}")


def resolve_area(config: Mapping[str, Any], *, bbox: Sequence[float] | None = None,
                 district_code: str | None = None) -> Area:
    if (bbox is None) == (district_code is None):
        raise InvalidInput("area", "either a district code or a bbox", "give either a district or a bbox",
                           "须指定区县或范围（二选一）")
    if district_code is not None:
        return district_area(config, district_code)
    box = check_bbox(bbox or ())
    return Area(box, "bbox " + ",".join(f"{v:g}" for v in box))


# -- rendering --------------------------------------------------------------------------------------------------
class _Progress:
    """A one-line progress bar on a terminal (stderr); silent otherwise."""

    def __init__(self, enabled: bool, title: str) -> None:
        self.enabled, self.title = enabled and sys.stderr.isatty(), title

    def show(self, fraction: float, note: str) -> None:
        if self.enabled:
            bar = "#" * int(30 * min(1.0, fraction))
            sys.stderr.write(f"\r{self.title} [{bar:.<30}] {fraction * 100:5.1f}% {note}\033[K")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


class _RenderPool:
    """The seeder's worker pool, as threads: renders the metatiles the tile walker hands over."""

    def __init__(self, conf: Any, manager: Any, concurrency: int, on_step: Any) -> None:
        self.conf, self.manager, self.on_step = conf, manager, on_step
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="seed")
        self.slots = threading.BoundedSemaphore(concurrency * 2)  # the walker must not run far ahead
        self.error: BaseException | None = None
        self.created = self.metatiles = 0

    def _render(self, main_tile: tuple[int, int, int]) -> None:
        from mapproxy.config.config import local_base_config

        try:
            with local_base_config(self.conf.base_config), self.manager.session():
                self.manager.load_tile_coords([main_tile])
        except BaseException as exc:  # re-raised in the walker's thread (process or stop)
            self.error = self.error or exc
        finally:
            self.slots.release()

    def process(self, tiles: list[tuple[int, int, int]], progress: Any) -> None:
        for main_tile in tiles:
            if self.error:
                raise self.error
            members = [t for t in self.manager.meta_grid.tile_list(main_tile) if t is not None]
            self.created += sum(1 for t in members if not self.manager.is_cached(t))
            self.metatiles += 1
            self.slots.acquire()
            self.executor.submit(self._render, main_tile)
        self.on_step(progress.progress)

    def stop(self) -> None:
        self.executor.shutdown(wait=True)
        if self.error:
            raise self.error


@contextmanager
def _rendering_errors() -> Iterator[None]:
    from mapproxy.source import SourceError

    try:
        yield
    except SourceError as exc:
        raise DomainError(f"rendering tiles failed: {exc}", f"瓦片渲染失败：{exc}", http_status=502,
                          code="render_failed") from None


def _seed_cache(conf: Any, manager: Any, levels: list[int], area: Area, concurrency: int,
                on_step: Any) -> tuple[int, int]:
    """Render the uncached metatiles of ``area`` at ``levels``: (tiles created, metatiles rendered)."""
    from mapproxy.seed.seeder import SeedTask, TileWalker
    from mapproxy.srs import SRS
    from mapproxy.util.coverage import BBOXCoverage

    task = SeedTask({"name": "onemap", "cache_name": manager.identifier, "grid_name": manager.grid.name},
                    manager, levels, refresh_timestamp=None, refresh_all=False,
                    coverage=BBOXCoverage(area.bbox, SRS(4490)))
    pool = _RenderPool(conf, manager, concurrency, on_step)
    try:
        TileWalker(task, pool, handle_uncached=True, work_on_metatiles=True).walk()
    finally:
        pool.stop()
    return pool.created, pool.metatiles


def seed(config: Mapping[str, Any], layers: Sequence[str], *, bbox: Sequence[float] | None = None,
         district_code: str | None = None, zooms: range, grids: Sequence[str] = ("webmercator",),
         progress: bool = True, concurrency: int = 2) -> SeedReport:
    """Render every uncached tile of ``layers`` touching the area at ``zooms`` into the /tiles caches."""
    from mapproxy.config.config import local_base_config

    chosen, grid_names = check_layers(layers), check_grids(grids)
    levels = check_zooms(zooms, grid_names)
    area = resolve_area(config, bbox=bbox, district_code=district_code)
    conf = load_mapproxy(config)
    report = SeedReport(chosen, grid_names, zooms, area)
    jobs = [(layer, grid) for layer in chosen for grid in grid_names]
    bar = _Progress(progress, "seed")
    try:
        with local_base_config(conf.base_config), _rendering_errors():
            for i, (layer, grid) in enumerate(jobs):
                manager = mpc.tile_manager(conf, layer, grid)
                report.tiles_in_area += sum(1 for level in levels for _ in mpc.level_tiles(manager, area.bbox, level))

                def step(fraction: float, i: int = i, name: str = f"{layer}/{grid}") -> None:
                    bar.show((i + fraction) / len(jobs), name)

                created, metatiles = _seed_cache(conf, manager, levels, area, concurrency, step)
                report.tiles_created += created
                report.metatiles_rendered += metatiles
                report.by_cache[f"{layer}/{grid}"] = created
                step(1.0)
    finally:
        bar.close()
    return report


# -- export -----------------------------------------------------------------------------------------------------
def layer_title(layer: str) -> str:
    from layers.registry import default_registry

    return mpc.BASEMAP_TITLE if layer == "basemap" else default_registry().get(layer).title_zh


def _open_package(kind: str, path: Path, grid: Any, layer: str) -> Any:
    from mapproxy.cache.geopackage import GeopackageCache
    from mapproxy.cache.mbtiles import MBTilesCache

    return MBTilesCache(str(path)) if kind == "mbtiles" else GeopackageCache(str(path), grid, table_name=layer)


def _store_tiles(kind: str, package: Any, manager: Any, coords: list[tuple[int, int, int]]) -> int:
    """Copy tiles from the layer's cache (rendering any still missing) into the package; returns how many."""
    from mapproxy.cache.tile import Tile

    written = 0
    for start in range(0, len(coords), 64):
        tiles = []
        for tile in manager.load_tile_coords(coords[start:start + 64]).tiles:
            if tile.image_result is None:
                continue
            x, y, z = tile.coord
            # MBTiles rows count from the bottom (TMS scheme); our grids count from the top, as GeoPackage does.
            coord = (x, manager.grid.grid_sizes[z][1] - 1 - y, z) if kind == "mbtiles" else tile.coord
            tiles.append(Tile(coord, tile.image_result))
        package.store_tiles(tiles)
        written += len(tiles)
    return written


def _finish_mbtiles(path: Path, layer: str, area: Area, levels: list[int]) -> None:
    """MBTiles 1.3 metadata: MapProxy leaves the table empty, and offline apps need bounds and zooms."""
    x0, y0, x1, y1 = area.bbox
    rows = {"name": layer_title(layer), "format": "png", "bounds": f"{x0:.6f},{y0:.6f},{x1:.6f},{y1:.6f}",
            "center": f"{(x0 + x1) / 2:.6f},{(y0 + y1) / 2:.6f},{levels[0]}", "minzoom": str(levels[0]),
            "maxzoom": str(levels[-1]), "attribution": mpc.ATTRIBUTION, "type": "baselayer" if layer == "basemap"
            else "overlay", "version": "1", "description": f"{layer_title(layer)}: {area.label}"}
    with sqlite3.connect(path) as db:
        db.execute("delete from metadata")
        db.executemany("insert into metadata (name, value) values (?, ?)", rows.items())
    db.close()


def _finish_geopackage(path: Path, layer: str, grid: Any, bbox: tuple[float, ...], levels: list[int]) -> None:
    """Fix what MapProxy writes: a placeholder CRS definition for EPSG:4490, matrix rows for levels 0-19 whatever
    was exported (GDAL then opens an empty full-resolution level), and the whole world as the content extent."""
    from pyproj import CRS
    from pyproj.enums import WktVersion

    epsg = int(grid.srs.srs_code.split(":")[1])
    with sqlite3.connect(path) as db:
        if epsg == 4490:
            db.execute("update gpkg_spatial_ref_sys set srs_name = ?, definition = ?, description = ? where srs_id = ?",
                       ("China Geodetic Coordinate System 2000",
                        CRS.from_epsg(4490).to_wkt(WktVersion.WKT1_GDAL), "CGCS2000", 4490))
        db.execute("delete from gpkg_tile_matrix where table_name = ?", (layer,))
        w, h = grid.tile_size
        db.executemany("insert into gpkg_tile_matrix values (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(layer, z, *grid.grid_sizes[z], w, h, grid.resolution(z), grid.resolution(z))
                        for z in levels])
        db.execute("update gpkg_contents set identifier = ?, description = ?, min_x = ?, min_y = ?, max_x = ?, "
                   "max_y = ?, last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') where table_name = ?",
                   (layer_title(layer), mpc.ATTRIBUTION, *bbox, layer))
    db.close()


def _check_dest(dest: Path, overwrite: bool) -> Path:
    dest = Path(dest).absolute()
    if dest.is_dir():
        raise InvalidInput("output", "a file path", f"{dest} is a directory", f"{dest} 是目录", value=str(dest))
    if not dest.parent.is_dir():
        raise InvalidInput("output", "a file in an existing directory", f"directory {dest.parent} does not exist",
                           f"目录 {dest.parent} 不存在", value=str(dest))
    if dest.exists() and not overwrite:
        raise Conflict(f"{dest} exists; pass overwrite (--overwrite) to replace it",
                       f"{dest} 已存在；如需覆盖请使用 --overwrite")
    return dest


def export(config: Mapping[str, Any], layer: str, *, bbox: Sequence[float] | None = None,
           district_code: str | None = None, zooms: range, grid: str = "webmercator", fmt: str = "mbtiles",
           dest: Path, overwrite: bool = False, progress: bool = True, concurrency: int = 2) -> ExportReport:
    """Write the tiles of ``layer`` touching the area at ``zooms`` to an MBTiles or GeoPackage file. ``dest``
    appears only when complete (written beside it, then renamed); a failure leaves an existing ``dest`` as it was."""
    from mapproxy.config.config import local_base_config

    kind = FORMATS.get(fmt)
    if kind is None:
        raise InvalidInput("format", "mbtiles or gpkg (geopackage)", value=fmt)
    [layer] = check_layers([layer])
    [grid] = check_grids([grid])
    levels = check_zooms(zooms, [grid])
    if kind == "mbtiles" and grid != "webmercator":
        raise InvalidInput("grid", "webmercator for MBTiles", "MBTiles is defined for the web mercator grid only; "
                           "export the cgcs2000 grid to a GeoPackage", "MBTiles 仅支持 Web 墨卡托网格；"
                           "cgcs2000 网格请导出为 GeoPackage", value=grid)
    if grid == "cgcs2000" and levels[0] == 0:
        raise InvalidInput("zoom", "1 or more on the cgcs2000 grid", "level 0 of the cgcs2000 grid reaches beyond "
                           "±90° and cannot be stored in a GeoPackage; start at level 1 (as 天地图 does)",
                           "cgcs2000 网格第 0 级超出 ±90°，无法写入 GeoPackage；请从第 1 级开始")
    dest = _check_dest(dest, overwrite)
    area = resolve_area(config, bbox=bbox, district_code=district_code)
    conf = load_mapproxy(config)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    bar = _Progress(progress, "export")
    written = 0
    try:
        with local_base_config(conf.base_config), _rendering_errors():
            manager = mpc.tile_manager(conf, layer, grid)
            # Render what is missing in metatiles first (fast, and it fills the server's cache too) ...
            _seed_cache(conf, manager, levels, area, concurrency, lambda f: bar.show(f / 2, "render"))
            # ... then copy tile by tile from the cache into the package.
            package = _open_package(kind, partial, manager.grid, layer)
            total = sum(1 for level in levels for _ in mpc.level_tiles(manager, area.bbox, level)) or 1
            for level in levels:
                written += _store_tiles(kind, package, manager, list(mpc.level_tiles(manager, area.bbox, level)))
                bar.show(0.5 + written / total / 2, f"{written} tiles")
            package.cleanup()
            if kind == "mbtiles":
                _finish_mbtiles(partial, layer, area, levels)
            else:
                _finish_geopackage(partial, layer, manager.grid, mpc.grid_bbox(manager, area.bbox), levels)
        os.replace(partial, dest)
    except BaseException:
        for leftover in (partial, Path(f"{partial}.init.lck"), Path(f"{partial}-journal")):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    return ExportReport(layer, grid, kind, dest, zooms, area, written, dest.stat().st_size)


def load_mapproxy(settings: Mapping[str, Any]) -> Any:
    """MapProxy's ProxyConfiguration from the generated files (rebuilt first if their inputs changed); its renders
    (seeding, export) go to kept-running ``mapserv`` processes, as the server's do (mapserver/fcgi.py)."""
    from mapproxy.config.loader import load_configuration

    from mapserver import mapproxy_patches
    from mapserver.build import ensure_built

    files = ensure_built(settings)
    mapproxy_patches.install()
    mapproxy_patches.register_mapserv(files["mapproxy.mapproxy"].parent / "mapserv.sh",
                                      files["mapserver.mapserver_conf"], timeout=mpc.MAPSERV_TIMEOUT)
    return load_configuration(str(files["mapproxy.mapproxy"]))
