"""``onemap tiles``: seed the /tiles caches for an area, export an area to MBTiles/GeoPackage for offline use.

Register with ``cli.add_command(tiles)``. Every mistake is a DomainError, so ``onemap`` prints one ``error:`` line
and exits 2 (no click usage blocks: the options are checked here, not by click types).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from core.errors import InvalidInput

_ZOOMS = re.compile(r"^\s*(\d{1,2})\s*(?:-\s*(\d{1,2})\s*)?$")


def parse_zooms(text: str | None) -> range:
    """``"10-14"`` → range(10, 15); ``"12"`` → range(12, 13)."""
    m = _ZOOMS.match(text or "")
    if not m:
        raise InvalidInput("zoom", "a level or a range such as 10-14", value=text or "")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if hi < lo:
        raise InvalidInput("zoom", "a range from low to high, such as 10-14", value=text)
    return range(lo, hi + 1)


def parse_bbox(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InvalidInput("bbox", "minlon,minlat,maxlon,maxlat (four numbers)", value=text)
    return values


def _area(district: str | None, bbox: str | None) -> dict[str, Any]:
    if (district is None) == (bbox is None):
        raise InvalidInput("area", "--district or --bbox", "give exactly one of --district and --bbox",
                           "须指定 --district 或 --bbox（二选一）")
    return {"district_code": district} if district is not None else {"bbox": parse_bbox(bbox or "")}


def _settings() -> dict[str, Any]:
    from core.config import load_config
    from core.db import private_cluster

    settings = load_config()
    if not settings["database"]["url"]:
        private_cluster(settings).up()  # like every other onemap command: the private cluster starts on demand
    return settings


@click.group("tiles")
def tiles() -> None:
    """Tile caches behind /tiles (MapProxy): seed an area, export it for offline use."""


@tiles.command("seed")
@click.option("--layers", default="basemap", show_default=True, help="comma-separated tiled layers")
@click.option("--district", default=None, help="district code (GB/T 2260), e.g. 329902")
@click.option("--bbox", default=None, help="minlon,minlat,maxlon,maxlat in EPSG:4490")
@click.option("--zoom", default=None, help="zoom level or range, e.g. 10-14")
@click.option("--grid", "grids", multiple=True, help="webmercator (default) or cgcs2000; repeat for both")
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 16), help="parallel renders")
def seed_command(layers: str, district: str | None, bbox: str | None, zoom: str | None, grids: tuple[str, ...],
                 concurrency: int) -> None:
    """Render every uncached tile of an area into the caches /tiles serves.

    The area is --district CODE (GB/T 2260) or --bbox minlon,minlat,maxlon,maxlat (EPSG:4490).
    """
    from mapserver.tiles import seed

    area = _area(district, bbox)
    zooms = parse_zooms(zoom)
    report = seed(_settings(), layers.split(","), zooms=zooms, grids=grids or ("webmercator",),
                  concurrency=concurrency, **area)
    click.echo(f"seeded {report.area.label}, zoom {zooms.start}-{zooms.stop - 1}: {report.tiles_created} new tiles "
               f"({report.metatiles_rendered} metatiles rendered; {report.tiles_in_area} tiles cover the area)")
    for name, created in report.by_cache.items():
        click.echo(f"  {name:<32} {created:>8} new tiles")


@tiles.command("export")
@click.option("--layer", default="basemap", show_default=True, help="one tiled layer")
@click.option("--district", default=None, help="district code (GB/T 2260), e.g. 329902")
@click.option("--bbox", default=None, help="minlon,minlat,maxlon,maxlat in EPSG:4490")
@click.option("--zoom", default=None, help="zoom level or range, e.g. 10-14")
@click.option("--grid", default="webmercator", show_default=True, help="webmercator or cgcs2000 (GeoPackage only)")
@click.option("--format", "fmt", default="mbtiles", show_default=True, help="mbtiles or gpkg")
@click.option("--output", default=None, help="the file to write")
@click.option("--overwrite", is_flag=True, help="replace an existing file")
def export_command(layer: str, district: str | None, bbox: str | None, zoom: str | None, grid: str, fmt: str,
                   output: str | None, overwrite: bool) -> None:
    """Write the tiles of an area to an MBTiles or GeoPackage file for offline apps.

    The area is --district CODE (GB/T 2260) or --bbox minlon,minlat,maxlon,maxlat (EPSG:4490). MBTiles holds the
    webmercator grid only; the cgcs2000 grid (天地图 "c" levels) goes to a GeoPackage.
    """
    from mapserver.tiles import export

    if not output:
        raise InvalidInput("output", "a file path, e.g. --output linjiang.mbtiles", "--output is required",
                           "须指定 --output")
    area = _area(district, bbox)
    zooms = parse_zooms(zoom)
    report = export(_settings(), layer, zooms=zooms, grid=grid, fmt=fmt, dest=Path(output), overwrite=overwrite,
                    **area)
    click.echo(f"wrote {report.tiles} tiles of {report.layer} ({report.area.label}, zoom {zooms.start}-"
               f"{zooms.stop - 1}, {report.grid}) to {report.path} ({report.size_bytes / 1e6:.1f} MB)")
