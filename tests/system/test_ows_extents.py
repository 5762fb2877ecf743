"""Desktop GIS extents: every layer of every service advertises the city's real extent, as clients read it.

QGIS's "zoom to layer" uses what OWSLib and GDAL read here: a WFS feature type's WGS84BoundingBox, a WMS layer's
EX_GeographicBoundingBox and its BoundingBox per CRS (latitude first for EPSG:4490/4326 in WMS 1.3.0), a WCS
coverage's envelope, an OGC API collection's spatial extent. For every layer of the registry the box must hold every
row of the layer and the city's districts, and be the city, not the world (nor China). Because MapServer also counts
WFS features inside that box, a row added at run time on the city's edge must still be counted, and a row outside
the city must be refused on write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from lxml import etree
from owslib.util import Authentication
from pyproj import Transformer
from werkzeug.test import Client

from layers.registry import default_registry
from tests.system.test_ogc_clients import gdal
from tests.system.test_permission_matrix import InjectIdentity, find_gate, identity

pytestmark = pytest.mark.system

REGISTRY = default_registry()
LAYERS = sorted(REGISTRY.ids)
SLACK = 0.1  # degrees: the advertised box may exceed the city by its margin, not more
WMS_NS = {"wms": "http://www.opengis.net/wms"}
Box = tuple[float, float, float, float]


@pytest.fixture(scope="module")
def city(db: sa.Engine) -> SimpleNamespace:
    """The districts' box and each layer's own box, from PostGIS."""
    def box(table: str) -> Box:
        with db.connect() as conn:
            row = conn.execute(sa.text(f'SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM '
                                       f'(SELECT ST_Extent(geom) AS e FROM "{table}") s')).one()
        return tuple(row)

    return SimpleNamespace(districts=box("districts"), layers={i: box(REGISTRY.get(i).table) for i in LAYERS})


def assert_city_box(box: Box, city: SimpleNamespace, layer: str) -> None:
    x0, y0, x1, y1 = box
    for inner in (city.districts, city.layers[layer]):
        if inner[0] is None:
            continue  # an empty layer: the districts decide
        assert x0 <= inner[0] and y0 <= inner[1] and x1 >= inner[2] and y1 >= inner[3], (layer, box, inner)
    d = city.districts
    assert x0 >= d[0] - SLACK and y0 >= d[1] - SLACK and x1 <= d[2] + SLACK and y1 <= d[3] + SLACK, (layer, box)


@pytest.fixture(scope="module")
def raster(demo_artifacts: Path) -> Path:
    return demo_artifacts / "data" / "population.tif"


@pytest.fixture(scope="module")
def auth(live_token: str) -> Authentication:
    return Authentication(username="qgis", password=live_token)


# -- WFS ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["2.0.0", "1.1.0"])
def test_owslib_reads_the_city_as_every_feature_type_s_extent(live_server: str, auth: Authentication,
                                                              city: SimpleNamespace, version: str) -> None:
    from owslib.wfs import WebFeatureService

    wfs = WebFeatureService(f"{live_server}/ows", version=version, auth=auth)
    assert set(wfs.contents) == {f"onemap:{layer}" for layer in LAYERS}
    for layer in LAYERS:
        assert_city_box(wfs.contents[f"onemap:{layer}"].boundingBoxWGS84, city, layer)


@pytest.mark.parametrize("layer", LAYERS)
def test_ogrinfo_reports_the_city_as_the_layer_extent(live_server: str, live_token: str, city: SimpleNamespace,
                                                      layer: str, db: sa.Engine) -> None:
    # QGIS takes a WFS layer's extent from the capabilities; GDAL does when told to (else it reads every feature)
    out = gdal(live_token, "ogrinfo", "-ro", "-so", "-oo", "TRUST_CAPABILITIES_BOUNDS=YES", f"WFS:{live_server}/ows",
               f"onemap:{layer}")
    m = re.search(r"^Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)$", out, re.M)
    assert m, out[:2000]
    assert_city_box(tuple(map(float, m.groups())), city, layer)  # GDAL shows lon/lat (x first) for EPSG:4490
    count = int(re.search(r"^Feature Count: (\d+)$", out, re.M).group(1))
    with db.connect() as conn:  # MapServer counts inside the advertised box: it must hold every row
        assert count == conn.execute(sa.text(f'SELECT count(*) FROM "{REGISTRY.get(layer).table}"')).scalar_one()


# -- WMS ----------------------------------------------------------------------------------------------------------
def _wms_layers(doc: etree._Element) -> dict[str, etree._Element]:
    return {el.findtext("wms:Name", namespaces=WMS_NS): el for el in doc.iter("{http://www.opengis.net/wms}Layer")
            if el.findtext("wms:Name", namespaces=WMS_NS) in REGISTRY.ids}


def test_wms_layers_carry_the_city_in_every_crs(live_server: str, auth: Authentication, city: SimpleNamespace,
                                                ) -> None:
    import requests
    from owslib.wms import WebMapService

    wms = WebMapService(f"{live_server}/ows", version="1.3.0", auth=auth)
    body = requests.get(f"{live_server}/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities",
                        auth=("qgis", auth.password), timeout=60).content
    layers = _wms_layers(etree.fromstring(body))
    assert set(layers) == set(LAYERS)
    to_3857 = Transformer.from_crs("EPSG:4490", "EPSG:3857", always_xy=True)
    for layer in LAYERS:
        west, south, east, north = wms.contents[layer].boundingBoxWGS84
        assert_city_box((west, south, east, north), city, layer)
        boxes = {b.get("CRS"): tuple(float(b.get(k)) for k in ("minx", "miny", "maxx", "maxy"))
                 for b in layers[layer].iterfind("wms:BoundingBox", WMS_NS)}
        for crs in ("EPSG:4490", "EPSG:4326"):  # WMS 1.3.0: these CRSs are latitude first
            assert boxes[crs] == pytest.approx((south, west, north, east), abs=1e-6), (layer, crs)
        x0, y0 = to_3857.transform(west, south)
        x1, y1 = to_3857.transform(east, north)
        assert boxes["EPSG:3857"] == pytest.approx((x0, y0, x1, y1), rel=1e-5), layer  # MapServer prints 6 digits


def test_wms_111_layers_carry_the_city_x_first(live_server: str, auth: Authentication, city: SimpleNamespace,
                                               ) -> None:
    from owslib.wms import WebMapService

    wms = WebMapService(f"{live_server}/ows", version="1.1.1", auth=auth)
    for layer in LAYERS:
        assert_city_box(wms.contents[layer].boundingBoxWGS84, city, layer)
        box = wms.contents[layer].boundingBox  # (minx, miny, maxx, maxy, srs): 1.1.1 is x first everywhere
        assert box[4] == "EPSG:4490"
        assert_city_box(box[:4], city, layer)


# -- WCS and OGC API ----------------------------------------------------------------------------------------------
def test_the_coverage_keeps_the_raster_s_own_extent(live_server: str, live_token: str, raster: Path,
                                                    tmp_path: Path) -> None:
    import rasterio

    with rasterio.open(raster) as ds:
        b = ds.bounds
    info = json.loads(gdal(live_token, "gdalinfo", "-json", "-oo", f"CACHE={tmp_path}",
                           f"WCS:{live_server}/ows?SERVICE=WCS&VERSION=2.0.1&coverage=population"))
    corners = info["cornerCoordinates"]
    assert corners["upperLeft"] == pytest.approx([b.left, b.top], abs=1e-6)
    assert corners["lowerRight"] == pytest.approx([b.right, b.bottom], abs=1e-6)


def test_ogc_api_collections_advertise_the_city(user_client, city: SimpleNamespace, raster: Path) -> None:  # noqa: ANN001
    import rasterio

    body = user_client.get("/ogcapi/collections?f=json").get_json()
    extents = {c["id"]: c["extent"]["spatial"]["bbox"][0] for c in body["collections"]}
    for layer in LAYERS:
        assert_city_box(tuple(extents[layer]), city, layer)
    with rasterio.open(raster) as ds:
        assert extents["population"] == pytest.approx(list(ds.bounds), abs=1e-6)


# -- rows added at run time -----------------------------------------------------------------------------------------
@pytest.fixture
def editable(fresh_db: str, demo_artifacts: Path, tmp_path: Path) -> Iterator[SimpleNamespace]:
    from app import create_app

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    app = create_app({"database": {"url": fresh_db}, "paths": {"var": str(tmp_path)},
                      "logging": {"level": "WARNING", "format": "json"}})
    engine = sa.create_engine(fresh_db)
    yield SimpleNamespace(client=Client(InjectIdentity(find_gate(app))), engine=engine)
    engine.dispose()


def test_a_row_on_the_city_s_edge_is_counted_and_one_outside_is_refused(editable: SimpleNamespace) -> None:
    as_city = {"test.identity": identity("city_regulator", SimpleNamespace(own_uscc=None))}
    with editable.engine.connect() as conn:
        # just inside the westernmost district, on the city's edge
        lon, lat, district = conn.execute(sa.text(
            "WITH w AS (SELECT code, geom FROM districts ORDER BY ST_XMin(geom) LIMIT 1) "
            "SELECT ST_X(p), ST_Y(p), code FROM (SELECT code, ST_ClosestPoint(ST_Buffer(geom, -0.0002), "
            "ST_SetSRID(ST_MakePoint(ST_XMin(geom) - 1, (ST_YMin(geom) + ST_YMax(geom)) / 2), 4490)) AS p "
            "FROM w) s")).one()
        xmin, ymin = conn.execute(sa.text("SELECT ST_XMin(e), ST_YMin(e) FROM (SELECT ST_Extent(geom) e "
                                          "FROM districts) s")).one()

    def post(code: str, x: float, y: float):  # noqa: ANN202
        feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
                   "properties": {"code": code, "title": "边界测试", "kind": "fire", "status": "reported",
                                  "reported_at": "2026-11-28T08:00:00+00:00", "district_code": district}}
        return editable.client.post("/ogcapi/collections/incidents/items", json=feature,
                                    content_type="application/geo+json", environ_base=as_city)

    assert post("EDGE1", lon, lat).status_code == 201
    for code, x, y in (("OUT1", 0.0, 0.0), ("OUT2", xmin - 0.001, ymin - 0.001), ("OUT3", 121.5, 31.2)):
        response = post(code, x, y)
        assert response.status_code == 400 and "outside the city" in response.get_data(as_text=True), code
    with editable.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar_one()
        assert conn.execute(sa.text("SELECT count(*) FROM incidents WHERE code LIKE 'OUT%'")).scalar_one() == 0
    hits = editable.client.get("/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=onemap:incidents&"
                               "RESULTTYPE=hits", environ_base=as_city)
    assert hits.status_code == 200 and int(etree.fromstring(hits.data).get("numberMatched")) == rows
