"""Real OGC clients — OWSLib and the GDAL/OGR command-line tools — against the whole app over HTTP.

``test_ogcapi.py`` and ``test_ows_mapserver.py`` drive the services in-process. Here the clients start from the
capabilities / landing page and follow the URLs the server advertises, the way QGIS or a script would, and their
answers are checked against PostGIS and the population GeoTIFF. They sign in as QGIS does: HTTP Basic with an
API token (``ogc:read``) of the demo city-level dispatcher as the password, so every layer is theirs to read.

Every HTTP request must stay on 127.0.0.1: the proxy variables point at a tripwire listener (``no_proxy`` exempts
only 127.0.0.1), so a request to any other host — a capabilities URL advertising the wrong host, a schema fetched
from schemas.opengis.net — is recorded there and fails the test that made it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import sqlalchemy as sa
from owslib.util import Authentication
from PIL import Image

from layers.registry import default_registry

pytestmark = pytest.mark.system

# lon/lat (EPSG:4490) box holding about a third of the scale-1 demo city's enterprises
BBOX = (118.95, 31.95, 119.05, 32.05)
# a 0.1° window of the population raster, inside the city
SUBSET = (118.9, 31.9, 119.0, 32.0)
RED = (0xE0, 0x20, 0x20)
GDAL_TIMEOUT = 300


class Tripwire:
    """A listener posing as the HTTP proxy: it only records who connected (nothing should)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.attempts: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed at teardown
            with conn:
                conn.settimeout(2)
                try:
                    self.attempts.append(conn.recv(300))
                except OSError:
                    self.attempts.append(b"<connected>")


@pytest.fixture(scope="module")
def tripwire() -> Iterator[Tripwire]:
    wire = Tripwire()
    proxy = f"http://127.0.0.1:{wire.port}"
    with pytest.MonkeyPatch.context() as mp:
        # curl (GDAL) reads the lower-case http_proxy, requests (OWSLib) either case
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            mp.setenv(var, proxy)
        mp.setenv("no_proxy", "127.0.0.1")
        mp.setenv("NO_PROXY", "127.0.0.1")
        yield wire
    wire.sock.close()


@pytest.fixture(autouse=True)
def _stays_on_loopback(tripwire: Tripwire) -> Iterator[None]:
    before = len(tripwire.attempts)
    yield
    assert tripwire.attempts[before:] == [], "a request left 127.0.0.1 (went to the proxy)"


@pytest.fixture(scope="module")
def token(live_token: str) -> str:
    return live_token


@pytest.fixture(scope="module")
def auth(token: str) -> Authentication:
    return Authentication(username="qgis", password=token)


@pytest.fixture(scope="module")
def raster(demo_artifacts: Path) -> Path:
    return demo_artifacts / "data" / "population.tif"


def postgis_ids(db: sa.Engine, bbox: tuple[float, float, float, float] | None = None) -> list[int]:
    where = " WHERE ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4490))" if bbox else ""
    params = dict(zip("abcd", bbox, strict=True)) if bbox else {}
    with db.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT id FROM enterprises{where} ORDER BY id"), params).scalars())


def gdal(token: str, *argv: str) -> str:
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF", "GDAL_HTTP_MAX_RETRY": "0",
           "GDAL_HTTP_AUTH": "BASIC", "GDAL_HTTP_USERPWD": f"qgis:{token}"}
    proc = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=GDAL_TIMEOUT)
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, (argv, proc.stderr[-2000:])
    return proc.stdout


# ogrinfo runs with -noextent: GDAL does not trust the capabilities' box unless told (TRUST_CAPABILITIES_BOUNDS, see
# test_ows_extents.py) and would page through the whole layer to compute an extent (the counts come from
# RESULTTYPE=hits / numberMatched).
def feature_count(ogrinfo_output: str) -> int:
    counts = re.findall(r"^Feature Count: (\d+)$", ogrinfo_output, re.M)
    assert len(counts) == 1, ogrinfo_output[:2000]
    return int(counts[0])


def gdal_epsg(info: dict) -> int | None:
    from pyproj import CRS

    return CRS.from_wkt(info["coordinateSystem"]["wkt"]).to_epsg()


def spat(bbox: tuple[float, float, float, float]) -> list[str]:
    return ["-spat", *map(str, bbox)]


# -- OWSLib -------------------------------------------------------------------------------------------------------
def test_owslib_wms_getmap_draws_an_enterprise_in_cgcs2000(live_server: str, auth: Authentication,
                                                           db: sa.Engine) -> None:
    from owslib.wms import WebMapService

    wms = WebMapService(live_server + "/ows", version="1.3.0", auth=auth)
    assert all(m["url"].startswith(live_server + "/ows") for m in wms.getOperationByName("GetMap").methods)
    with db.connect() as conn:  # a red enterprise with no neighbour within ~500 m owns its pixel
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(geom), ST_Y(geom) FROM enterprises e WHERE risk_colour = 'red' AND NOT EXISTS "
            "(SELECT 1 FROM enterprises o WHERE o.id <> e.id AND ST_DWithin(o.geom, e.geom, 0.005)) "
            "ORDER BY id LIMIT 1")).one()
    # OWSLib takes x/y and sends latitude first, as WMS 1.3.0 wants for EPSG:4490
    img = wms.getmap(layers=["enterprises"], styles=[""], srs="EPSG:4490", format="image/png", size=(256, 256),
                     bbox=(lon - 0.003, lat - 0.003, lon + 0.003, lat + 0.003), transparent=True)
    image = Image.open(io.BytesIO(img.read())).convert("RGBA")
    assert image.size == (256, 256)
    r, g, b, a = image.getpixel((128, 128))
    assert a > 200 and all(abs(c - want) <= 12 for c, want in zip((r, g, b), RED, strict=True)), (r, g, b, a)
    assert image.getpixel((5, 5))[3] == 0, "the corners are empty (transparent)"


def test_owslib_wfs_finds_enterprises_and_fetches_the_bbox(live_server: str, auth: Authentication,
                                                           db: sa.Engine) -> None:
    from owslib.wfs import WebFeatureService

    wfs = WebFeatureService(live_server + "/ows", version="2.0.0", auth=auth)
    assert "onemap:enterprises" in wfs.contents
    assert wfs["onemap:enterprises"].title == "生产经营单位"
    assert all(m["url"].startswith(live_server + "/ows") for m in wfs.getOperationByName("GetFeature").methods)
    # x/y order here; OWSLib swaps to latitude-first for urn:ogc:def:crs:EPSG::4490 (the advertised default CRS)
    body = json.loads(wfs.getfeature(typename=["onemap:enterprises"], bbox=BBOX,
                                     outputFormat="application/json").read())
    ids = sorted(int(f["properties"]["id"]) for f in body["features"])
    assert ids == postgis_ids(db, BBOX) and len(ids) > 100


def test_owslib_wcs_population_is_a_cgcs2000_geotiff(live_server: str, auth: Authentication, raster: Path,
                                                     tmp_path: Path) -> None:
    import rasterio
    from owslib.wcs import WebCoverageService
    from rasterio.windows import from_bounds

    wcs = WebCoverageService(live_server + "/ows", version="2.0.1", auth=auth)
    assert "population" in wcs.contents
    out = wcs.getCoverage(identifier="population", format="image/tiff",
                          subsets=[("long", SUBSET[0], SUBSET[2]), ("lat", SUBSET[1], SUBSET[3])])
    (tmp_path / "population.tif").write_bytes(out.read())
    with rasterio.open(tmp_path / "population.tif") as cov, rasterio.open(raster) as src:
        assert cov.crs.to_epsg() == 4490
        assert cov.bounds == pytest.approx(SUBSET, abs=src.res[0])
        assert cov.res == pytest.approx(src.res, rel=0.01)
        expected = src.read(1, window=from_bounds(*SUBSET, transform=src.transform).round_offsets()
                            .round_lengths(), masked=True)
        # MapServer resamples to the exact subset (nearest neighbour), so totals agree only closely
        assert float(cov.read(1).sum()) == pytest.approx(float(expected.sum()), rel=0.05)


def test_wcs_keeps_the_no_data_cells(live_server: str, auth: Authentication, raster: Path, tmp_path: Path) -> None:
    """Outside the city the raster has no data; a client must not read that as 'nobody lives here'."""
    import rasterio
    from owslib.wcs import WebCoverageService

    wcs = WebCoverageService(live_server + "/ows", version="2.0.1", auth=auth)
    (tmp_path / "full.tif").write_bytes(wcs.getCoverage(identifier="population", format="image/tiff").read())
    with rasterio.open(raster) as src, rasterio.open(tmp_path / "full.tif") as cov:
        assert src.nodata is not None
        missing = int((src.read(1) == src.nodata).sum())
        assert missing > 0
        assert cov.nodata == src.nodata
        assert int((cov.read(1) == cov.nodata).sum()) == missing


def test_owslib_ogcapi_features_lists_collections_and_fetches_a_bbox(live_server: str, auth: Authentication,
                                                                    db: sa.Engine) -> None:
    from owslib.ogcapi.features import Features

    from layers.registry import default_registry

    api = Features(live_server + "/ogcapi", auth=auth)
    ids = {c["id"] for c in api.collections()["collections"]}
    assert set(default_registry().ids) <= ids
    body = api.collection_items("enterprises", bbox=list(BBOX), limit=10000)
    expected = postgis_ids(db, BBOX)
    assert body["numberMatched"] == len(expected)
    assert sorted(f["id"] for f in body["features"]) == expected
    assert all(link["href"].startswith(live_server + "/ogcapi") for link in body["links"])


def test_owslib_ogcapi_coverage_matches_the_raster(live_server: str, auth: Authentication, raster: Path) -> None:
    import rasterio
    from owslib.ogcapi.coverages import Coverages

    api = Coverages(live_server + "/ogcapi", auth=auth)
    assert "population" in api.coverages()
    cov = json.loads(api.coverage("population", subset=[("Long", SUBSET[0], SUBSET[2]),
                                                         ("Lat", SUBSET[1], SUBSET[3])]).read())
    assert cov["type"] == "Coverage"
    (rng,) = cov["ranges"].values()
    assert rng["axisNames"] == ["y", "x"]
    values = np.array([np.nan if v is None else v for v in rng["values"]], dtype=float).reshape(rng["shape"])
    with rasterio.open(raster) as src:
        row, col = src.index(SUBSET[0], SUBSET[3], op=math.floor)
        expected = src.read(1, masked=True).filled(np.nan)[row:row + values.shape[0], col:col + values.shape[1]]
    present = ~np.isnan(values)
    # cells are null where the source has no data or the pixel centre lies outside the subset (the edge row)
    assert present.sum() > 0.9 * values.size
    np.testing.assert_allclose(values[present], expected[present], rtol=1e-6)


# -- GDAL / OGR ---------------------------------------------------------------------------------------------------
# The OAPIF driver pages with the server's default limit (10) unless told otherwise; 1000 keeps this quick.
OAPIF_OPTS = ("-oo", "PAGE_SIZE=1000")


def test_ogrinfo_oapif_bbox_count_equals_postgis(live_server: str, token: str, db: sa.Engine) -> None:
    out = gdal(token, "ogrinfo", "-ro", "-so", "-noextent", *OAPIF_OPTS, f"OAPIF:{live_server}/ogcapi",
               "enterprises", *spat(BBOX))
    assert feature_count(out) == len(postgis_ids(db, BBOX)) > 0


def test_ogrinfo_wfs_bbox_count_equals_postgis(live_server: str, token: str, db: sa.Engine) -> None:
    # -spat is x/y (lon/lat); the WFS driver turns it into a latitude-first BBOX filter for EPSG:4490
    # (INVERT_AXIS_ORDER_IF_LAT_LONG, on by default), which MapServer expects for WFS 2.0.
    out = gdal(token, "ogrinfo", "-ro", "-so", "-noextent", f"WFS:{live_server}/ows", "onemap:enterprises",
               *spat(BBOX))
    assert feature_count(out) == len(postgis_ids(db, BBOX)) > 0


@pytest.mark.parametrize(("source", "layer", "options"), [
    pytest.param("OAPIF:{}/ogcapi", "enterprises", OAPIF_OPTS, id="oapif"),
    pytest.param("WFS:{}/ows", "onemap:enterprises", (), id="wfs"),
])
def test_gdal_sees_every_feature(live_server: str, token: str, db: sa.Engine, source: str, layer: str,
                                 options: tuple[str, ...]) -> None:
    """The advertised count (numberMatched / hits) and a full paged read both give every row of the table."""
    expected = postgis_ids(db)
    assert len(expected) == 5000
    url = source.format(live_server)
    assert feature_count(gdal(token, "ogrinfo", "-ro", "-so", "-noextent", *options, url, layer)) == len(expected)
    rows = csv.DictReader(io.StringIO(gdal(token, "ogr2ogr", "-f", "CSV", "/vsistdout/", *options, url, layer,
                                           "-select", "id")))
    assert sorted(int(r["id"]) for r in rows) == expected  # none missing, none twice


def _wms_url(live_server: str) -> str:
    # WMS 1.3.0 + EPSG:4490: the BBOX is latitude first
    return (f"WMS:{live_server}/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=districts,enterprises"
            "&CRS=EPSG:4490&BBOX=31.8,118.7,32.2,119.3&FORMAT=image/png")


@pytest.mark.parametrize(("kind", "epsg"), [("wms", 4490), ("wmts", 3857), ("wmts-cgcs2000", 4490), ("wcs", 4490)])
def test_gdalinfo_opens_the_raster_services(live_server: str, token: str, raster: Path, tmp_path: Path, kind: str,
                                            epsg: int) -> None:
    capabilities = f"WMTS:{live_server}/tiles/wmts/1.0.0/WMTSCapabilities.xml,layer=basemap"
    name, options = {
        "wms": (_wms_url(live_server), []),
        "wmts": (capabilities, []),
        "wmts-cgcs2000": (capabilities + ",tilematrixset=cgcs2000", []),
        # the WCS driver caches capabilities under $HOME unless told where
        "wcs": (f"WCS:{live_server}/ows?SERVICE=WCS&VERSION=2.0.1&coverage=population",
                ["-oo", f"CACHE={tmp_path}"]),
    }[kind]
    info = json.loads(gdal(token, "gdalinfo", "-json", *options, name))
    assert gdal_epsg(info) == epsg
    assert info["driverShortName"] == kind.split("-")[0].upper()
    if kind == "wcs":
        import rasterio

        with rasterio.open(raster) as src:
            assert info["size"] == [src.width, src.height]


def test_wmts_capabilities_point_at_the_live_server(live_server: str, token: str) -> None:
    resp = requests.get(live_server + "/tiles/wmts/1.0.0/WMTSCapabilities.xml", auth=("qgis", token), timeout=60)
    assert resp.status_code == 200, resp.text[:300]
    text = resp.text
    urls = re.findall(r'template="([^"]+)"', text)
    assert urls and all(u.startswith(live_server + "/tiles/wmts/") for u in urls)


def test_gdal_translate_wcs_area_to_geotiff(live_server: str, token: str, raster: Path, tmp_path: Path) -> None:
    import rasterio

    out = tmp_path / "wcs.tif"
    gdal(token, "gdal_translate", "-q", "-oo", f"CACHE={tmp_path}", "-projwin", str(SUBSET[0]), str(SUBSET[3]),
         str(SUBSET[2]), str(SUBSET[1]), f"WCS:{live_server}/ows?SERVICE=WCS&VERSION=2.0.1&coverage=population",
         str(out))
    with rasterio.open(out) as cov, rasterio.open(raster) as src:
        assert cov.crs.to_epsg() == 4490
        assert (cov.width, cov.height) == (round((SUBSET[2] - SUBSET[0]) / src.res[0]),
                                           round((SUBSET[3] - SUBSET[1]) / src.res[1]))
        assert cov.bounds == pytest.approx(SUBSET, abs=src.res[0])
        assert float(cov.read(1).max()) > 0


def test_gdal_translate_wms_area_to_geotiff(live_server: str, token: str, tmp_path: Path) -> None:
    import rasterio

    out = tmp_path / "wms.tif"
    gdal(token, "gdal_translate", "-q", "-of", "GTiff", "-outsize", "512", "0", _wms_url(live_server), str(out))
    with rasterio.open(out) as img:
        assert img.crs.to_epsg() == 4490
        assert (img.width, img.height) == (512, round(512 * 0.4 / 0.6))
        assert tuple(img.bounds) == pytest.approx((118.7, 31.8, 119.3, 32.2), abs=1e-6)
        assert img.count >= 3
        rgb = img.read([1, 2, 3])
        assert float(rgb.std()) > 5, "the map is not a blank image"


# Every layer with a boolean, date or timestamp field, from the registry: the types MapServer writes "auto" for
# these (gml:TimeInstantType for dates, integer for booleans written true/false) made GDAL drop the whole
# DescribeFeatureType and guess from a sample — district codes became integers, null columns vanished, true read 0.
_TYPED = sorted(layer.id for layer in default_registry()
                if any(f.type in ("boolean", "date", "datetime") for f in layer.fields))
_GDAL_TYPE = {"boolean": "Integer(Boolean)", "date": "String", "datetime": "String", "string": "String"}


@pytest.mark.parametrize("layer_id", _TYPED)
def test_gdal_reads_every_field_with_its_type_over_wfs(live_server: str, token: str, db: sa.Engine,
                                                       layer_id: str) -> None:
    layer = default_registry().get(layer_id)
    url = f"WFS:{live_server}/ows"
    out = gdal(token, "ogrinfo", "-ro", "-so", "-noextent", url, f"onemap:{layer_id}")
    seen = dict(re.findall(r"^(\w+): (\S+) \(", out, re.M))
    for field in layer.fields:
        assert field.name in seen, (field.name, out[-1500:])  # none dropped (a null column included)
        if field.type in _GDAL_TYPE:
            assert seen[field.name] == _GDAL_TYPE[field.type], (field.name, seen[field.name])
    for field in (f for f in layer.fields if f.type == "boolean"):
        rows = csv.DictReader(io.StringIO(gdal(token, "ogr2ogr", "-f", "CSV", "/vsistdout/", url, f"onemap:{layer_id}",
                                               "-select", field.name)))
        read = sum(r[field.name] == "1" for r in rows)
        with db.connect() as conn:
            stored = conn.execute(sa.text(f'SELECT count(*) FROM "{layer.table}" WHERE "{field.name}"')).scalar()
        assert read == stored, (field.name, read, stored)
