"""MapProxy at /tiles on the demo city: WMTS (KVP + REST = our XYZ), TMS and the WMS front, the cgcs2000 grid that
overlays 天地图 "c" tiles, metatile caching, seeding and offline export (MBTiles, GeoPackage), and the bad
requests that must be 4xx, never 5xx. HTTP tests use the whole app over HTTP (``live_server``); seeding and
export run on their own var directory so that their tile counts start from an empty cache.
"""

from __future__ import annotations

import http.client
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from PIL import Image

from core.config import load_config
from core.errors import Conflict, DomainError, InvalidInput
from layers.registry import default_registry
from mapserver import tiles
from mapserver.mapproxy_config import cache_path, tile_manager, tiled_layers
from mapserver.tiles import load_mapproxy

REGISTRY = default_registry()
TILED = tiled_layers(REGISTRY)
RED, ORANGE = (0xE0, 0x20, 0x20), (0xFF, 0x8C, 0x00)
DISTRICT = "329902"
ONEMAP = Path(sys.executable).with_name("onemap")


# -- tile arithmetic, independent of MapProxy -------------------------------------------------------------------
def xyz_pixel(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    """Web mercator tile (x, y from the top) and pixel within it."""
    n = 256 * 2 ** z
    px = (lon + 180) / 360 * n
    py = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int(px // 256), int(py // 256), int(px % 256), int(py % 256)


def cgcs_pixel(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    """天地图 "c" tile (level 1 = 2x1 tiles of 0.703125°/px, origin 90°N 180°W) and pixel within it."""
    res = 0.703125 / 2 ** (z - 1)
    px, py = (lon + 180) / res, (90 - lat) / res
    return int(px // 256), int(py // 256), int(px % 256), int(py % 256)


def area_tiles(bbox: tuple[float, ...], z: int, pixel=xyz_pixel) -> set[tuple[int, int, int]]:  # noqa: ANN001
    x0, y0 = pixel(bbox[0], bbox[3], z)[:2]
    x1, y1 = pixel(bbox[2], bbox[1], z)[:2]
    return {(x, y, z) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}


def png(body: bytes) -> Image.Image:
    assert body[:8] == b"\x89PNG\r\n\x1a\n", body[:300]
    return Image.open(io.BytesIO(body)).convert("RGBA")


def close(pixel: tuple[int, ...], rgb: tuple[int, int, int], tol: int = 12) -> bool:
    return int(pixel[3]) > 200 and all(abs(int(a) - b) <= tol for a, b in zip(pixel[:3], rgb, strict=False))


def raw_get(base: str, path: str, headers: dict[str, str]) -> int:
    """Status of GET ``path`` sent byte for byte (requests/urllib3 would normalise dot segments away)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


# -- fixtures ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auth(live_token: str) -> dict[str, str]:
    """HTTP headers for a city-wide user (the demo dispatcher's API token), who may see the internal layers."""
    return {"Authorization": f"Bearer {live_token}"}


@pytest.fixture(scope="module")
def web(auth: dict[str, str]) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(auth)
        yield session


@pytest.fixture(scope="module")
def server(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The live server's /tiles URL and tile cache (its var directory is the one whose pygeoapi configuration
    names its URL)."""
    for var in sorted(tmp_path_factory.getbasetemp().glob("live-var*")):
        config = var / "generated" / "pygeoapi" / "pygeoapi.yaml"
        if config.exists() and f"{live_server}/ogcapi" in config.read_text(encoding="utf-8"):
            return SimpleNamespace(base=live_server, url=live_server + "/tiles", cache=var / "cache" / "tiles")
    raise AssertionError("cannot find the live server's var directory")


@pytest.fixture(scope="module")
def offline(demo_db: str, demo_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A configuration with its own (empty) tile cache, for seeding and export."""
    var = tmp_path_factory.mktemp("tiles-var")
    (var / "data").mkdir()
    (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    config = load_config({"database": {"url": demo_db}, "paths": {"var": str(var)}}, environ={})
    return SimpleNamespace(config=config, var=var, cache=var / "cache" / "tiles")


@pytest.fixture(scope="module")
def district(db: sa.Engine) -> tuple[float, float, float, float]:
    with db.connect() as conn:
        row = conn.execute(sa.text("select st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e) from "
                                   "(select st_extent(geom) as e from districts where code = :c) as d"),
                           {"c": DISTRICT}).one()
    return tuple(row)


def isolated_enterprise(db: sa.Engine, colour: str) -> tuple[float, float]:
    """An enterprise of ``colour`` with no other enterprise within ~500 m, so its pixels are its own."""
    with db.connect() as conn:
        return tuple(conn.execute(sa.text(
            "select st_x(geom), st_y(geom) from enterprises e where risk_colour = :c and not exists "
            "(select 1 from enterprises o where o.id <> e.id and st_dwithin(o.geom, e.geom, 0.005)) order by id limit 1"),
            {"c": colour}).one())


# -- configuration ----------------------------------------------------------------------------------------------
def test_cgcs2000_grid_is_the_tianditu_c_matrix(offline: SimpleNamespace) -> None:
    from mapproxy.config.config import local_base_config

    conf = load_mapproxy(offline.config)
    with local_base_config(conf.base_config):
        grid = tile_manager(conf, "basemap", "cgcs2000").grid
        assert grid.grid_sizes[1] == (2, 1) and grid.resolution(1) == 0.703125
        assert grid.tile_bbox((0, 0, 1)) == (-180.0, -90.0, 0.0, 90.0)  # y counted from the top, like 天地图
        assert grid.grid_sizes[18] == (262144, 131072)
        assert tile_manager(conf, "basemap", "webmercator").grid.grid_sizes[1] == (2, 2)


def test_generated_config_passes_mapproxys_own_validation(offline: SimpleNamespace) -> None:
    import yaml
    from mapproxy.config.loader import load_configuration
    from mapproxy.config.spec import validate_options

    path = offline.var / "generated" / "mapproxy" / "mapproxy.yaml"
    load_mapproxy(offline.config)
    assert validate_options(yaml.safe_load(path.read_text(encoding="utf-8"))) == ([], True)
    load_configuration(str(path), ignore_warnings=False)  # raises on any warning, e.g. an unknown option


# -- WMTS, TMS, XYZ ---------------------------------------------------------------------------------------------
@pytest.mark.system
def test_owslib_wmts_capabilities(server: SimpleNamespace, auth: dict[str, str]) -> None:
    from owslib.wmts import WebMapTileService

    wmts = WebMapTileService(server.url + "/service", version="1.0.0", headers=auth)
    assert set(wmts.contents) == set(TILED) and len(TILED) > 1
    for layer in REGISTRY:
        if layer.raster_tiles:
            assert wmts.contents[layer.id].title == layer.title_zh
    assert wmts.contents["basemap"].title == "示范市底图 (城市自有数据)"
    assert set(wmts.tilematrixsets) == {"webmercator", "cgcs2000"}
    assert all(set(wmts.contents[name].tilematrixsetlinks) == {"webmercator", "cgcs2000"} for name in TILED)
    cgcs = wmts.tilematrixsets["cgcs2000"]
    assert cgcs.crs.endswith("4490")
    level1 = cgcs.tilematrix["01"]
    # 天地图 "c" level 1: 2x1 tiles, top left at 90°N 180°W (EPSG:4490 axis order: latitude first)
    assert (level1.matrixwidth, level1.matrixheight) == (2, 1)
    assert tuple(level1.topleftcorner) == (90.0, -180.0)
    assert level1.scaledenominator == pytest.approx(0.703125 * 6378137 * math.pi / 180 / 0.00028, rel=1e-9)
    web = wmts.tilematrixsets["webmercator"].tilematrix["01"]
    assert (web.matrixwidth, web.matrixheight) == (2, 2)
    x, y = xyz_pixel(119.0, 32.0, 12)[:2]
    tile = wmts.gettile(layer="basemap", tilematrixset="webmercator", tilematrix="12", row=y, column=x,
                        format="image/png")
    assert png(tile.read()).size == (256, 256)


def tms_order(web: requests.Session, server: SimpleNamespace, grid: str, units_per_pixel: float) -> int:
    """The TMS TileSet of ``units_per_pixel``, found the way a TMS client does: from the TileMap document."""
    tile_map = ET.fromstring(web.get(f"{server.url}/tms/1.0.0/basemap/{grid}", timeout=60).content)
    [order] = [int(ts.get("order")) for ts in tile_map.iter("TileSet")
               if math.isclose(float(ts.get("units-per-pixel")), units_per_pixel, rel_tol=1e-9)]
    return order


@pytest.mark.system
@pytest.mark.parametrize(("grid", "pixel", "res", "rows", "tms_z"), [
    # TMS 1.0.0's global-mercator profile starts with 2x2 tiles, so its order 11 is XYZ zoom 12
    ("webmercator", xyz_pixel, 2 * 20037508.342789244 / 256 / 2 ** 12, 2 ** 12, 11),
    ("cgcs2000", cgcs_pixel, 0.703125 / 2 ** 11, 2 ** 11, 12),
])
def test_rest_kvp_tms_and_xyz_address_the_same_tile(server: SimpleNamespace, web: requests.Session, grid: str, pixel, res: float,  # noqa: ANN001
                                                    rows: int, tms_z: int) -> None:
    x, y = pixel(119.0, 32.0, 12)[:2]
    xyz = f"{server.url}/wmts/basemap/{grid}/12/{x}/{y}.png"
    web.get(xyz, timeout=60).raise_for_status()  # render once: later answers all come from the cache
    rest = web.get(xyz, timeout=60)
    kvp = web.get(f"{server.url}/service", timeout=60, params={
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "basemap", "STYLE": "default",
        "TILEMATRIXSET": grid, "TILEMATRIX": "12", "TILEROW": y, "TILECOL": x, "FORMAT": "image/png"})
    assert tms_order(web, server, grid, res) == tms_z
    tms = web.get(f"{server.url}/tms/1.0.0/basemap/{grid}/{tms_z}/{x}/{rows - 1 - y}.png", timeout=60)
    unflipped = web.get(f"{server.url}/tms/1.0.0/basemap/{grid}/{tms_z}/{x}/{y}.png", timeout=60)
    assert [r.status_code for r in (rest, kvp, tms)] == [200, 200, 200]
    assert rest.headers["Content-Type"] == "image/png"
    assert rest.content == kvp.content == tms.content
    assert unflipped.content != rest.content  # TMS rows count from the bottom
    assert png(rest.content).getextrema()[3][0] == 255  # the basemap is opaque


@pytest.mark.system
@pytest.mark.parametrize("grid", ["webmercator", "cgcs2000"])
def test_enterprise_tiles_show_the_risk_colours(server: SimpleNamespace, web: requests.Session, db: sa.Engine, grid: str) -> None:
    pixel = xyz_pixel if grid == "webmercator" else cgcs_pixel
    for colour, rgb in (("red", RED), ("orange", ORANGE)):
        lon, lat = isolated_enterprise(db, colour)
        x, y, px, py = pixel(lon, lat, 15)
        resp = web.get(f"{server.url}/wmts/enterprises/{grid}/15/{x}/{y}.png", timeout=60)
        image = png(resp.content)
        assert close(image.getpixel((px, py)), rgb), (colour, image.getpixel((px, py)))
        alpha = image.getchannel("A").histogram()
        assert alpha[0] > 0.8 * 256 * 256  # an overlay: transparent away from the enterprises


@pytest.mark.system
def test_a_tile_request_caches_its_whole_metatile(server: SimpleNamespace, web: requests.Session) -> None:
    x, y = xyz_pixel(119.0, 32.0, 15)[:2]
    directory = cache_path(server.cache, "water", "webmercator") / "15"
    x0, y0 = x // 4 * 4, y // 4 * 4
    members = {(i, j) for i in range(x0, x0 + 4) for j in range(y0, y0 + 4)}
    assert not any((directory / str(i) / f"{j}.png").exists() for i, j in members)
    assert web.get(f"{server.url}/wmts/water/webmercator/15/{x}/{y}.png", timeout=60).status_code == 200
    cached = {(int(p.parent.name), int(p.stem)) for p in directory.glob("*/*.png")}
    assert cached == members


@pytest.mark.system
@pytest.mark.parametrize(("crs", "order"), [("EPSG:4490", "latlon"), ("EPSG:3857", "xy")])
def test_wms_front_draws_a_red_enterprise(server: SimpleNamespace, web: requests.Session, db: sa.Engine, crs: str, order: str) -> None:
    from pyproj import Transformer

    lon, lat = isolated_enterprise(db, "red")
    xs, ys = Transformer.from_crs("EPSG:4490", crs, always_xy=True).transform([lon - .002, lon + .002],
                                                                               [lat - .002, lat + .002])
    bbox = f"{ys[0]},{xs[0]},{ys[1]},{xs[1]}" if order == "latlon" else f"{xs[0]},{ys[0]},{xs[1]},{ys[1]}"
    resp = web.get(f"{server.url}/service", timeout=60, params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "enterprises", "STYLES": "",
        "CRS": crs, "BBOX": bbox, "WIDTH": 101, "HEIGHT": 101, "FORMAT": "image/png", "TRANSPARENT": "TRUE"})
    assert resp.status_code == 200, resp.text[:300]
    assert close(png(resp.content).getpixel((50, 50)), RED, tol=20)


@pytest.mark.system
def test_gdal_opens_the_wmts_and_places_cgcs2000_tiles(server: SimpleNamespace, db: sa.Engine, auth: dict[str, str],
                                                       tmp_path: Path) -> None:
    caps = f"WMTS:{server.url}/wmts/1.0.0/WMTSCapabilities.xml"
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_MAX_RETRY": "0",
           "GDAL_HTTP_HEADERS": "\r\n".join(f"{k}: {v}" for k, v in auth.items())}
    info = subprocess.run(["gdalinfo", "-json", f"{caps},layer=basemap,tilematrixset=cgcs2000"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr[-2000:]
    assert "China Geodetic Coordinate System 2000" in json.loads(info.stdout)["coordinateSystem"]["wkt"]
    # A client that reads our TileMatrixSet (as QGIS does for 天地图) must put the red enterprise where it is.
    lon, lat = isolated_enterprise(db, "red")
    res = 0.703125 / 2 ** 14  # level 15
    out = tmp_path / "window.tif"
    proc = subprocess.run(["gdal_translate", "-q", "-projwin", str(lon - 32 * res), str(lat + 32 * res),
                           str(lon + 32 * res), str(lat - 32 * res), "-outsize", "64", "64",
                           f"{caps},layer=enterprises,tilematrixset=cgcs2000", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert close(Image.open(out).convert("RGBA").getpixel((32, 32)), RED, tol=20)


# -- bad requests -----------------------------------------------------------------------------------------------
WMTS, TMS = "/tiles/wmts/{}/{}/{}/{}/{}.png", "/tiles/tms/1.0.0/{}/{}/{}/{}/{}.png"
KVP = "/tiles/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={}&STYLE=default&TILEMATRIXSET={}" \
      "&TILEMATRIX={}&TILECOL={}&TILEROW={}&FORMAT=image/png"
GETMAP = "/tiles/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=basemap&STYLES=&CRS=EPSG:4490" \
         "&BBOX=31.9,118.9,32.1,119.1&FORMAT=image/png&WIDTH={}&HEIGHT={}"
BAD_TILES = [("nope", "webmercator", 12, 3400, 1660), ("basemap", "nogrid", 12, 3400, 1660),  # unknown layer, grid
             ("basemap", "webmercator", 25, 0, 0), ("basemap", "cgcs2000", 40, 0, 0),  # z beyond the grid
             ("basemap", "webmercator", 2, 9, 0), ("basemap", "cgcs2000", 1, 0, 1),  # x/y out of range
             ("basemap", "webmercator", "a", 0, 0), ("basemap", "webmercator", 1, "x", "y")]  # not numbers


@pytest.mark.system
@pytest.mark.parametrize("path", [
    *(template.format(*tile) for template in (WMTS, TMS, KVP) for tile in BAD_TILES),
    KVP.format("basemap", "webmercator", 2, -1, 0),
    "/tiles/wmts/basemap/webmercator/1/0/0.gif", "/tiles/wmts/basemap/webmercator/1/0",  # malformed REST paths
    "/tiles/tms/1.0.0/basemap/webmercator/1/../../../../etc/passwd",  # path traversal
    "/tiles/tms/1.0.0/basemap/webmercator/1/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/tiles/wmts/basemap/webmercator/..%2f..%2f..%2fetc/passwd",
    GETMAP.format(100000, 100000), GETMAP.format(100000, 1), GETMAP.format("x", 256),  # absurd WMS sizes
    GETMAP.format(256, 256).replace("EPSG:4490", "EPSG:2000"),
    GETMAP.format(256, 256).replace("31.9,118.9", "a,b"),
    GETMAP.format(256, 256).replace("LAYERS=basemap", "LAYERS=nope"),
    "/tiles/service?SERVICE=WMS&REQUEST=Nope",
])
def test_bad_requests_are_4xx(server: SimpleNamespace, auth: dict[str, str], path: str) -> None:
    assert 400 <= raw_get(server.base, path, auth) < 500


# -- seeding and export -----------------------------------------------------------------------------------------
def test_seed_renders_the_district_once(offline: SimpleNamespace, district: tuple[float, ...]) -> None:
    directory = cache_path(offline.cache, "basemap", "webmercator")
    report = tiles.seed(offline.config, ["basemap"], district_code=DISTRICT, zooms=range(11, 14), progress=False)
    files = {p: p.stat().st_mtime_ns for p in directory.glob("*/*/*.png")}
    expected = set().union(*(area_tiles(district, z) for z in (11, 12, 13)))
    assert report.tiles_in_area == len(expected)
    assert report.tiles_created == len(files) == 16 * report.metatiles_rendered > 0
    assert {(int(p.parent.name), int(p.stem), int(p.parent.parent.name)) for p in files} >= expected
    again = tiles.seed(offline.config, ["basemap"], district_code=DISTRICT, zooms=range(11, 14), progress=False)
    assert (again.tiles_created, again.metatiles_rendered) == (0, 0)
    assert {p: p.stat().st_mtime_ns for p in directory.glob("*/*/*.png")} == files


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"layers": ["nope"], "district_code": DISTRICT, "zooms": range(11, 12)}, "unknown tiled layer"),
    ({"layers": ["basemap"], "district_code": "999999", "zooms": range(11, 12)}, "unknown district 999999"),
    ({"layers": ["basemap"], "district_code": "32-99", "zooms": range(11, 12)}, "district"),
    ({"layers": ["basemap"], "bbox": (119, 32, 119, 32.1), "zooms": range(11, 12)}, "empty or invalid area"),
    ({"layers": ["basemap"], "bbox": (0, 0, 1, 1), "zooms": range(11, 12)}, "outside the tile sources"),
    ({"layers": ["basemap"], "district_code": DISTRICT, "zooms": range(19, 22)}, "beyond the grid"),
    ({"layers": ["basemap"], "district_code": DISTRICT, "zooms": range(11, 12), "grids": ["utm"]}, "grid"),
    ({"layers": ["basemap"], "zooms": range(11, 12)}, "either a district or a bbox"),
])
def test_seed_refuses_bad_input(offline: SimpleNamespace, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        tiles.seed(offline.config, progress=False, **kwargs)


def test_export_mbtiles(offline: SimpleNamespace, district: tuple[float, ...], tmp_path: Path) -> None:
    dest = tmp_path / "linjiang.mbtiles"
    report = tiles.export(offline.config, "basemap", district_code=DISTRICT, zooms=range(11, 14), dest=dest,
                          progress=False)
    expected = {z: area_tiles(district, z) for z in (11, 12, 13)}
    with sqlite3.connect(dest) as conn:
        meta = dict(conn.execute("select name, value from metadata"))
        rows = set(conn.execute("select tile_column, tile_row, zoom_level from tiles"))
        x, y, z = min(expected[13])
        data = conn.execute("select tile_data from tiles where zoom_level = ? and tile_column = ? and tile_row = ?",
                            (z, x, 2 ** z - 1 - y)).fetchone()[0]
    conn.close()
    assert report.tiles == len(rows) == sum(map(len, expected.values()))
    assert rows == {(x, 2 ** z - 1 - y, z) for tiles_z in expected.values() for x, y, z in tiles_z}  # TMS rows
    assert data == (cache_path(offline.cache, "basemap", "webmercator") / f"{z}/{x}/{y}.png").read_bytes()
    assert meta["name"] == "示范市底图 (城市自有数据)" and meta["format"] == "png"
    assert meta["attribution"] == "示范市合成数据"
    assert (meta["minzoom"], meta["maxzoom"]) == ("11", "13")
    assert [float(v) for v in meta["bounds"].split(",")] == pytest.approx(district, abs=1e-5)
    info = json.loads(subprocess.run(["gdalinfo", "-json", str(dest)], capture_output=True, text=True,
                                     check=True, timeout=60).stdout)
    assert info["driverShortName"] == "MBTiles"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linjiang.mbtiles"]  # no partial or lock files


def test_export_geopackage_on_the_cgcs2000_grid(offline: SimpleNamespace, district: tuple[float, ...],
                                               tmp_path: Path) -> None:
    dest = tmp_path / "linjiang.gpkg"
    report = tiles.export(offline.config, "enterprises", district_code=DISTRICT, zooms=range(12, 14),
                          grid="cgcs2000", fmt="gpkg", dest=dest, progress=False)
    with sqlite3.connect(dest) as conn:
        matrix = conn.execute("select zoom_level, matrix_width, matrix_height, pixel_x_size from gpkg_tile_matrix "
                              "where table_name = 'enterprises' order by zoom_level").fetchall()
        counts = dict(conn.execute("select zoom_level, count(*) from enterprises group by zoom_level"))
        srs = conn.execute("select srs_id from gpkg_contents where table_name = 'enterprises'").fetchone()[0]
    conn.close()
    assert matrix == [(z, 2 ** z, 2 ** (z - 1), 0.703125 / 2 ** (z - 1)) for z in (12, 13)]
    assert counts == {z: len(area_tiles(district, z, cgcs_pixel)) for z in (12, 13)}
    assert report.tiles == sum(counts.values()) and srs == 4490
    info = json.loads(subprocess.run(["gdalinfo", "-json", str(dest)], capture_output=True, text=True,
                                     check=True, timeout=60).stdout)
    assert info["driverShortName"] == "GPKG"
    assert "China Geodetic Coordinate System 2000" in info["coordinateSystem"]["wkt"]
    assert info["cornerCoordinates"]["upperLeft"] == pytest.approx([district[0], district[3]], abs=1e-3)


def test_export_never_overwrites_or_leaves_partial_files(offline: SimpleNamespace, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "old.mbtiles"
    dest.write_bytes(b"an earlier export")
    args = {"district_code": DISTRICT, "zooms": range(11, 12), "dest": dest, "progress": False}
    with pytest.raises(Conflict):
        tiles.export(offline.config, "basemap", **args)
    with pytest.raises(InvalidInput, match="web mercator grid only"):
        tiles.export(offline.config, "basemap", grid="cgcs2000", overwrite=True, **args)

    def broken(*_args: object) -> None:
        raise DomainError("disk full")

    monkeypatch.setattr(tiles, "_finish_mbtiles", broken)
    with pytest.raises(DomainError, match="disk full"):
        tiles.export(offline.config, "basemap", overwrite=True, **args)
    assert dest.read_bytes() == b"an earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["old.mbtiles"]
    monkeypatch.undo()
    report = tiles.export(offline.config, "basemap", overwrite=True, **args)
    assert report.tiles > 0 and dest.read_bytes()[:16] == b"SQLite format 3\x00"


# -- the command line -------------------------------------------------------------------------------------------
def run_cli(offline: SimpleNamespace, demo_db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env.update({"DATABASE_URL": demo_db, "ONEMAP_VAR": str(offline.var)})
    return subprocess.run([str(ONEMAP), "tiles", *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "needle"), [
    (["seed", "--layers", "basemap,nope", "--district", DISTRICT, "--zoom", "11-12"], "'nope'"),
    (["seed", "--layers", "basemap", "--district", "999999", "--zoom", "11-12"], "999999"),
    (["seed", "--layers", "basemap", "--district", DISTRICT, "--zoom", "11-40"], "beyond the grid"),
    (["seed", "--district", DISTRICT, "--bbox", "118.9,31.9,119,32", "--zoom", "11"], "--district"),
    (["export", "--district", DISTRICT, "--zoom", "11", "--format", "tiff", "--output", "x.tif"], "format"),
])
def test_cli_errors_are_one_line(offline: SimpleNamespace, demo_db: str, args: list[str], needle: str) -> None:
    proc = run_cli(offline, demo_db, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr


def test_cli_export(offline: SimpleNamespace, demo_db: str, tmp_path: Path) -> None:
    dest = tmp_path / "bbox.mbtiles"
    proc = run_cli(offline, demo_db, "export", "--layer", "basemap", "--bbox", "118.95,31.95,119.0,32.0",
                   "--zoom", "11-12", "--output", str(dest))
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(dest) as conn:
        count = conn.execute("select count(*) from tiles").fetchone()[0]
    conn.close()
    bbox = (118.95, 31.95, 119.0, 32.0)
    assert count == len(area_tiles(bbox, 11) | area_tiles(bbox, 12)) and f"wrote {count} tiles" in proc.stdout
