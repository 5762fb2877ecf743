"""MapServer behind the /ows WSGI bridge, against the demo city: WMS 1.3.0/1.1.1, WFS 2.0, WCS 2.0.1, SLD, and
the bad requests that must get an OGC exception (4xx) instead of a 5xx, a blank image or an empty answer."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import numpy as np
import pytest
import sqlalchemy as sa
from lxml import etree
from PIL import Image
from pyproj import Transformer
from werkzeug.serving import make_server
from werkzeug.test import Client

from app.config import load_config
from layers.registry import default_registry
from mapserver.build import data_extent, write_slds
from mapserver.mapfile import MAPSERV, build_mapfile
from mapserver.ows import make_ows_app
from styles import default_styles
from tests.conftest import free_port

REGISTRY = default_registry()


def city_wide(app):  # noqa: ANN001, ANN201
    """The bare bridge serves scoped layers to nobody; these tests read as a city-level user (the policy gate
    passes the same runtime-substitution values for one)."""
    from urllib.parse import urlencode

    from app.auth.scope import CITY
    from mapserver.mapfile import scope_params

    extra = urlencode({k: v for layer in REGISTRY for k, v in scope_params(layer.id, CITY).items()})

    def wrapped(environ, start_response):  # noqa: ANN001, ANN202
        environ["QUERY_STRING"] = "&".join(filter(None, [environ.get("QUERY_STRING"), extra]))
        return app(environ, start_response)

    return wrapped
RED, ORANGE = (0xE0, 0x20, 0x20), (0xFF, 0x8C, 0x00)
NS = {"wms": "http://www.opengis.net/wms", "wfs": "http://www.opengis.net/wfs/2.0",
      "gml": "http://www.opengis.net/gml/3.2", "xsd": "http://www.w3.org/2001/XMLSchema"}
FES_EQ = ('<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:PropertyIsEqualTo>'
          '<fes:ValueReference>{prop}</fes:ValueReference><fes:Literal>{value}</fes:Literal>'
          "</fes:PropertyIsEqualTo></fes:Filter>")
FES_LIKE = ('<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:PropertyIsLike wildCard="*" '
            'singleChar="." escapeChar="!"><fes:ValueReference>{prop}</fes:ValueReference>'
            "<fes:Literal>{value}</fes:Literal></fes:PropertyIsLike></fes:Filter>")


@pytest.fixture(scope="module")
def ows(tmp_path_factory: pytest.TempPathFactory, demo_db: str, demo_artifacts: Path) -> SimpleNamespace:
    config = load_config({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)}}, environ={})
    out = tmp_path_factory.mktemp("mapserver")
    styles = default_styles()
    mapfile = build_mapfile(REGISTRY, styles, config, out, base_url="http://testserver/ows",
                            extent=data_extent(config, REGISTRY))
    write_slds(REGISTRY, styles, out)
    app = city_wide(make_ows_app(mapfile, out / "mapserver.conf"))
    return SimpleNamespace(mapfile=mapfile, conf=out / "mapserver.conf", app=app, client=Client(app),
                           raster=demo_artifacts / "data" / "population.tif")


@pytest.fixture(scope="module")
def db(demo_db: str) -> Iterator[sa.engine.Connection]:
    engine = sa.create_engine(demo_db)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def isolated_enterprise(db: sa.engine.Connection, colour: str) -> SimpleNamespace:
    """An enterprise of ``colour`` with no other enterprise within ~500 m, so its pixel is its own."""
    row = db.execute(sa.text(
        "select id, name, st_x(geom), st_y(geom) from enterprises e where risk_colour = :c and not exists "
        "(select 1 from enterprises o where o.id <> e.id and st_dwithin(o.geom, e.geom, 0.005)) order by id limit 1"),
        {"c": colour}).one()
    return SimpleNamespace(id=row[0], name=row[1], lon=row[2], lat=row[3])


def get(ows: SimpleNamespace, **params: object):  # noqa: ANN201
    return ows.client.get("/", query_string="&".join(f"{k}={quote(str(v), safe=':,')}" for k, v in params.items()))


def root_name(body: bytes) -> str:
    return etree.QName(etree.fromstring(body)).localname


def assert_ogc_exception(resp, status: int = 400) -> None:  # noqa: ANN001
    assert resp.status_code == status, (resp.status_code, resp.get_data()[:500])
    assert root_name(resp.get_data()) in ("ServiceExceptionReport", "ExceptionReport")


def box(lon: float, lat: float, crs: str, half: float = 0.003, version: str = "1.3.0") -> str:
    """A bbox around lon/lat in ``crs`` and the axis order WMS ``version`` uses for it."""
    t = Transformer.from_crs("EPSG:4490", crs, always_xy=True)
    xs, ys = t.transform([lon - half, lon + half], [lat - half, lat + half])
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    north_first = version == "1.3.0" and crs in ("EPSG:4490", "EPSG:4326", "EPSG:4549", "EPSG:4528")
    return f"{y0},{x0},{y1},{x1}" if north_first else f"{x0},{y0},{x1},{y1}"


def png(resp) -> Image.Image:  # noqa: ANN001
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("image/png"), resp.get_data()[:300]
    return Image.open(io.BytesIO(resp.get_data())).convert("RGBA")


def close(pixel: tuple[int, ...], rgb: tuple[int, int, int], tol: int = 12) -> bool:
    return int(pixel[3]) > 200 and all(abs(int(a) - b) <= tol for a, b in zip(pixel[:3], rgb, strict=False))


def hits(ows: SimpleNamespace, typename: str, **extra: str) -> int:
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES=typename,
               RESULTTYPE="hits", **extra)
    assert resp.status_code == 200, resp.get_data()[:500]
    return int(etree.fromstring(resp.get_data()).get("numberMatched"))


# -- the generated files ------------------------------------------------------------------------------------------
def test_generated_files_keep_the_password_out(ows: SimpleNamespace, demo_db: str) -> None:
    password = sa.engine.make_url(demo_db).password
    text = ows.mapfile.read_text(encoding="utf-8")
    assert password and password not in text and password not in ows.conf.read_text(encoding="utf-8")
    assert "passfile=" in text and "MAXSIZE 4096" in text
    assert stat.S_IMODE(os.stat(ows.mapfile.parent / "pgpass").st_mode) == 0o600
    assert text.count('"wfs_extent" "-180 -90 180 90"') == len(REGISTRY)
    assert "wfs_maxfeatures" not in text and "ows_maxfeatures" not in text


def _mapserv(ows: SimpleNamespace, query: str) -> bytes:
    """The binary itself, as nginx/FastCGI runs it in production (none of the bridge's checks)."""
    env = {"PATH": "/usr/bin:/bin", "MAPSERVER_CONFIG_FILE": str(ows.conf), "REQUEST_METHOD": "GET",
           "QUERY_STRING": query, "MS_MAPFILE": str(ows.mapfile)}
    return subprocess.run([str(MAPSERV)], env=env, capture_output=True, timeout=60, check=True).stdout


def test_mapserver_itself_refuses_huge_images_and_foreign_mapfiles(ows: SimpleNamespace, tmp_path: Path) -> None:
    out = _mapserv(ows, "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=districts&STYLES=&CRS=EPSG:4490"
                        "&BBOX=31.8,118.7,32.2,119.3&WIDTH=100000&HEIGHT=256&FORMAT=image/png")
    assert b"ServiceExceptionReport" in out and b"between 1 and 4096" in out
    assert b"WMS_Capabilities" in _mapserv(ows, "SERVICE=WMS&REQUEST=GetCapabilities")
    out = _mapserv(ows, "map=/etc/passwd&SERVICE=WMS&REQUEST=GetCapabilities")
    assert b"fails to validate" in out and b"root:" not in out
    other = tmp_path / "other.map"
    other.write_text(ows.mapfile.read_text(encoding="utf-8"), encoding="utf-8")
    out = _mapserv(ows, f"map={other}&SERVICE=WMS&REQUEST=GetCapabilities")
    assert b"fails to validate" in out, "MS_MAP_PATTERN admits only the generated mapfile"


def test_map2img_renders_the_mapfile(ows: SimpleNamespace, tmp_path: Path) -> None:
    target = tmp_path / "districts.png"
    subprocess.run(["map2img", "-conf", str(ows.conf), "-m", str(ows.mapfile), "-o", str(target), "-l", "districts",
                    "-s", "300", "200", "-e", "118.6", "31.7", "119.4", "32.3"], check=True, capture_output=True,
                   timeout=60)
    image = Image.open(target).convert("RGBA")
    assert np.asarray(image)[..., 3].max() == 255, "district outlines were drawn"


# -- WMS ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.3.0", "1.1.1"])
def test_wms_capabilities_list_every_layer_in_chinese(ows: SimpleNamespace, version: str) -> None:
    resp = get(ows, SERVICE="WMS", VERSION=version, REQUEST="GetCapabilities")
    assert resp.status_code == 200
    doc = etree.fromstring(resp.get_data())
    titles = {el.findtext("{*}Name"): el.findtext("{*}Title") for el in doc.iter("{*}Layer") if el.find("{*}Name") is not None}
    for layer in REGISTRY:
        assert titles.get(layer.id) == layer.title_zh, layer.id
    assert titles.get("population") == "人口分布栅格"


@pytest.mark.parametrize(("crs", "version"), [("EPSG:4490", "1.3.0"), ("EPSG:4326", "1.3.0"), ("EPSG:3857", "1.3.0"),
                                              ("EPSG:4549", "1.3.0"), ("EPSG:4490", "1.1.1")])
def test_getmap_draws_risk_colours_where_the_enterprises_are(ows: SimpleNamespace, db, crs: str,  # noqa: ANN001
                                                            version: str) -> None:
    for colour, rgb in (("red", RED), ("orange", ORANGE)):
        e = isolated_enterprise(db, colour)
        crs_key = "CRS" if version == "1.3.0" else "SRS"
        image = png(get(ows, SERVICE="WMS", VERSION=version, REQUEST="GetMap", LAYERS="enterprises", STYLES="",
                        FORMAT="image/png", WIDTH=256, HEIGHT=256, BBOX=box(e.lon, e.lat, crs, version=version),
                        **{crs_key: crs}))
        assert close(image.getpixel((128, 128)), rgb), (colour, crs, image.getpixel((128, 128)))
        assert image.getpixel((5, 5))[3] == 0, "only the enterprise is drawn; the rest is transparent"


def test_getmap_jpeg_and_8bit_png(ows: SimpleNamespace, db) -> None:  # noqa: ANN001
    e = isolated_enterprise(db, "red")
    for fmt, kind in (("image/jpeg", "JPEG"), ("image/png; mode=8bit", "PNG")):
        resp = get(ows, SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="districts,enterprises", STYLES=",",
                   CRS="EPSG:4490", BBOX=box(e.lon, e.lat, "EPSG:4490"), WIDTH=64, HEIGHT=64, FORMAT=fmt)
        assert resp.status_code == 200
        assert Image.open(io.BytesIO(resp.get_data())).format == kind


def test_chinese_labels_render(ows: SimpleNamespace, db) -> None:  # noqa: ANN001
    """At zoom ~17 the enterprise name is drawn above the symbol in the CJK font (dark text on a white halo)."""
    e = isolated_enterprise(db, "blue")
    image = png(get(ows, SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="enterprises", STYLES="",
                    CRS="EPSG:4490", BBOX=box(e.lon, e.lat, "EPSG:4490", half=0.0008), WIDTH=400, HEIGHT=400,
                    FORMAT="image/png"))
    band = np.asarray(image.crop((60, 150, 340, 196)))
    dark = int(((band[..., 3] > 200) & (band[..., :3].max(axis=2) < 90)).sum())
    assert dark > 80, f"no label text above the symbol ({dark} dark pixels)"


@pytest.mark.parametrize("info_format", ["text/html", "application/json", "application/vnd.ogc.gml",
                                         "application/vnd.ogc.gml/3.1.1"])
def test_getfeatureinfo_returns_the_clicked_enterprise(ows: SimpleNamespace, db, info_format: str) -> None:  # noqa: ANN001
    e = isolated_enterprise(db, "red")
    resp = get(ows, SERVICE="WMS", VERSION="1.3.0", REQUEST="GetFeatureInfo", LAYERS="enterprises", STYLES="",
               QUERY_LAYERS="enterprises", CRS="EPSG:4490", BBOX=box(e.lon, e.lat, "EPSG:4490"), WIDTH=256,
               HEIGHT=256, I=128, J=128, INFO_FORMAT=info_format, FEATURE_COUNT=5, FORMAT="image/png")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith(info_format)
    text = resp.get_data().decode("utf-8")
    assert e.name in text
    if info_format == "application/json":
        assert [f["properties"]["name"] for f in json.loads(text)["features"]] == [e.name]
    if info_format == "text/html":
        assert "charset=UTF-8" in resp.headers["Content-Type"] and "单位名称" in text


def test_legend_graphic(ows: SimpleNamespace) -> None:
    image = png(get(ows, SERVICE="WMS", VERSION="1.3.0", REQUEST="GetLegendGraphic", LAYER="enterprises",
                    FORMAT="image/png", SLD_VERSION="1.1.0"))
    assert image.height >= 4 * 16
    pixels = np.asarray(image).reshape(-1, 4)
    assert any(close(tuple(p), RED) for p in pixels) and any(close(tuple(p), ORANGE) for p in pixels)


# -- WFS 2.0 ------------------------------------------------------------------------------------------------------
def test_wfs_capabilities_and_describe(ows: SimpleNamespace) -> None:
    doc = etree.fromstring(get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetCapabilities").get_data())
    names = {ft.findtext("wfs:Name", namespaces=NS): ft.findtext("wfs:Title", namespaces=NS)
             for ft in doc.iterfind(".//wfs:FeatureType", NS)}
    assert names == {f"onemap:{layer.id}": layer.title_zh for layer in REGISTRY}
    schema = etree.fromstring(get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="DescribeFeatureType",
                                  TYPENAMES="onemap:enterprises").get_data())
    elements = {el.get("name") for el in schema.iterfind(".//xsd:complexType//xsd:element", NS)}
    assert {"geom", "id", *REGISTRY.get("enterprises").field_names} <= elements


@pytest.mark.parametrize("layer_id", sorted(REGISTRY.ids))
def test_hits_equal_the_database_count(ows: SimpleNamespace, db, layer_id: str) -> None:  # noqa: ANN001
    """The 999-of-1,000 bug: MapServer counted inside a rounded ST_Extent() box; every row must be counted."""
    table = REGISTRY.get(layer_id).table
    ids = set(db.execute(sa.text(f'select id from "{table}"')).scalars())
    assert hits(ows, f"onemap:{layer_id}") == len(ids)
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES=f"onemap:{layer_id}",
               OUTPUTFORMAT="application/json", PROPERTYNAME="id")
    assert {f["id"] for f in json.loads(resp.get_data())["features"]} == ids


def test_paging_through_geojson_returns_every_enterprise_once(ows: SimpleNamespace, db) -> None:  # noqa: ANN001
    ids: list[int] = []
    for start in range(0, 6000, 1000):
        resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="onemap:enterprises",
                   OUTPUTFORMAT="application/json", COUNT=1000, STARTINDEX=start, SORTBY="id")
        page = json.loads(resp.get_data())
        assert page["numberMatched"] == 5000
        ids += [f["id"] for f in page["features"]]
    assert len(ids) == len(set(ids)) == 5000
    assert set(ids) == set(db.execute(sa.text("select id from enterprises")).scalars())


def test_getfeature_gml32(ows: SimpleNamespace) -> None:
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="onemap:enterprises", COUNT=7)
    assert resp.status_code == 200 and "gml/3.2" in resp.headers["Content-Type"]
    doc = etree.fromstring(resp.get_data())
    assert doc.get("numberReturned") == "7" and doc.get("numberMatched") == "5000"
    members = doc.findall("wfs:member", NS)
    assert len(members) == 7 and members[0][0].get(f"{{{NS['gml']}}}id").startswith("enterprises.")


def test_bbox_count_matches_postgis(ows: SimpleNamespace, db) -> None:  # noqa: ANN001
    w, s, e, n = 118.85, 31.95, 119.05, 32.1
    expected = db.execute(sa.text("select count(*) from enterprises where "
                                  "st_intersects(geom, st_makeenvelope(:w, :s, :e, :n, 4490))"),
                          {"w": w, "s": s, "e": e, "n": n}).scalar_one()
    assert expected > 0
    assert hits(ows, "onemap:enterprises", BBOX=f"{s},{w},{n},{e},urn:ogc:def:crs:EPSG::4490") == expected
    assert hits(ows, "onemap:enterprises", BBOX=f"{w},{s},{e},{n},urn:ogc:def:crs:OGC:1.3:CRS84") == expected
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="onemap:enterprises",
               OUTPUTFORMAT="application/json", BBOX=f"{s},{w},{n},{e}")
    assert len(json.loads(resp.get_data())["features"]) == expected


def test_resource_id_and_property_filters(ows: SimpleNamespace, db) -> None:  # noqa: ANN001
    e = isolated_enterprise(db, "orange")
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", RESOURCEID=f"enterprises.{e.id}",
               OUTPUTFORMAT="application/json")
    assert [f["properties"]["name"] for f in json.loads(resp.get_data())["features"]] == [e.name]
    red = db.execute(sa.text("select count(*) from enterprises where risk_colour = 'red'")).scalar_one()
    assert hits(ows, "onemap:enterprises", FILTER=FES_EQ.format(prop="risk_colour", value="red")) == red
    fragment = e.name[1:4]
    like = db.execute(sa.text("select count(*) from enterprises where name like :p"),
                      {"p": f"%{fragment}%"}).scalar_one()
    assert hits(ows, "onemap:enterprises", FILTER=FES_LIKE.format(prop="name", value=f"*{fragment}*")) == like


def test_post_getfeature_with_filter(ows: SimpleNamespace, db) -> None:  # noqa: ANN001
    body = ('<wfs:GetFeature service="WFS" version="2.0.0" resultType="hits" xmlns:wfs="http://www.opengis.net/wfs/2.0"'
            ' xmlns:onemap="https://onemap.example/ns/onemap"><wfs:Query typeNames="onemap:hazard_sources">'
            + FES_EQ.format(prop="grade", value="1") + "</wfs:Query></wfs:GetFeature>")
    resp = ows.client.post("/", data=body.encode(), content_type="application/xml")
    assert resp.status_code == 200, resp.get_data()[:400]
    expected = db.execute(sa.text("select count(*) from hazard_sources where grade = 1")).scalar_one()
    assert int(etree.fromstring(resp.get_data()).get("numberMatched")) == expected


@pytest.mark.parametrize("template", [FES_EQ, FES_LIKE])
def test_sql_injection_in_filters_matches_nothing(ows: SimpleNamespace, db, template: str) -> None:  # noqa: ANN001
    for value in ("' OR 1=1 --", "*' OR 1=1 --*", "x'); DROP TABLE enterprises; --"):
        assert hits(ows, "onemap:enterprises", FILTER=template.format(prop="name", value=value)) == 0
    assert db.execute(sa.text("select count(*) from enterprises")).scalar_one() == 5000


# -- WCS 2.0.1 ----------------------------------------------------------------------------------------------------
def test_wcs_capabilities_describe_and_trimmed_geotiff(ows: SimpleNamespace, tmp_path: Path) -> None:
    import rasterio

    caps = etree.fromstring(get(ows, SERVICE="WCS", VERSION="2.0.1", REQUEST="GetCapabilities").get_data())
    assert [c.text for c in caps.iter("{*}CoverageId")] == ["population"]
    desc = get(ows, SERVICE="WCS", VERSION="2.0.1", REQUEST="DescribeCoverage", COVERAGEID="population")
    assert desc.status_code == 200 and b"EPSG/0/4490" in desc.get_data()
    resp = ows.client.get("/", query_string="SERVICE=WCS&VERSION=2.0.1&REQUEST=GetCoverage&COVERAGEID=population"
                                            "&FORMAT=image/tiff&SUBSET=Long(118.8,118.9)&SUBSET=Lat(31.9,32.0)")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/tiff"
    (tmp_path / "cov.tif").write_bytes(resp.get_data())
    with rasterio.open(ows.raster) as src, rasterio.open(tmp_path / "cov.tif") as cov:
        assert cov.crs.to_epsg() == 4490
        assert abs(cov.width - 0.1 / src.res[0]) <= 1 and abs(cov.height - 0.1 / src.res[1]) <= 1
        b = cov.bounds
        assert (round(b.left, 6), round(b.bottom, 6), round(b.right, 6), round(b.top, 6)) == (118.8, 31.9, 118.9, 32.0)
        assert cov.read(1).max() > 0


# -- SLD ----------------------------------------------------------------------------------------------------------
def test_sld_endpoint(ows: SimpleNamespace) -> None:
    resp = ows.client.get("/styles/enterprises.sld")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/vnd.ogc.sld+xml")
    doc = etree.fromstring(resp.get_data())
    assert doc.get("version") == "1.1.0" and doc.findtext("{*}NamedLayer/{*}Name") == "enterprises"
    for path in ("/styles/nope.sld", "/styles/../onemap.map", "/styles/..%2Fpgpass.sld", "/onemap.map"):
        assert_ogc_exception(ows.client.get(path), 404)


def test_mapserver_applies_the_compiled_sld(ows: SimpleNamespace, db, tmp_path: Path) -> None:  # noqa: ANN001
    """A real SE 1.1 parser: MapServer (SLD enabled in a copy of the mapfile) draws the same risk colours."""
    mapfile = ows.mapfile.parent / "sld-enabled.map"
    mapfile.write_text(ows.mapfile.read_text(encoding="utf-8").replace('"wms_sld_enabled" "false"',
                                                                       '"wms_sld_enabled" "true"'), encoding="utf-8")
    conf = tmp_path / "mapserver.conf"
    conf.write_text(ows.conf.read_text(encoding="utf-8").replace("onemap[.]map", "sld-enabled[.]map"),
                    encoding="utf-8")
    client = Client(city_wide(make_ows_app(mapfile, conf)))
    sld = client.get("/styles/enterprises.sld").get_data().decode("utf-8")
    for colour, rgb in (("red", RED), ("orange", ORANGE)):
        e = isolated_enterprise(db, colour)
        resp = client.get("/", query_string="&".join([
            "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=enterprises&STYLES=&CRS=EPSG:4490",
            f"BBOX={box(e.lon, e.lat, 'EPSG:4490')}&WIDTH=256&HEIGHT=256&FORMAT=image/png",
            "SLD_BODY=" + quote(sld)]))
        assert close(png(resp).getpixel((128, 128)), rgb), colour
    broken = sld.replace("#E02020", "#00FF00")
    e = isolated_enterprise(db, "red")
    resp = client.get("/", query_string="&".join([
        "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=enterprises&STYLES=&CRS=EPSG:4490",
        f"BBOX={box(e.lon, e.lat, 'EPSG:4490')}&WIDTH=256&HEIGHT=256&FORMAT=image/png", "SLD_BODY=" + quote(broken)]))
    assert close(png(resp).getpixel((128, 128)), (0, 255, 0)), "the SLD, not the mapfile, decided the colour"


# -- bad requests -------------------------------------------------------------------------------------------------
WMS = "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&STYLES=&FORMAT=image/png&WIDTH=256&HEIGHT=256"
WFS = "SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=onemap:enterprises"


@pytest.mark.parametrize("query", [
    pytest.param(f"{WMS}&LAYERS=nope&CRS=EPSG:4490&BBOX=31.9,118.8,32.0,118.9", id="unknown-layer"),
    pytest.param(f"{WMS}&LAYERS=enterprises&CRS=EPSG:999999&BBOX=31.9,118.8,32.0,118.9", id="unknown-crs"),
    pytest.param(f"{WMS}&LAYERS=enterprises&CRS=EPSG:4326&BBOX=91,118.8,95,118.9", id="bbox-out-of-range"),
    pytest.param(f"{WMS}&LAYERS=enterprises&CRS=EPSG:4490&BBOX=118.8,31.9,118.9,32.0", id="bbox-swapped-axes"),
    pytest.param(f"{WMS}&LAYERS=enterprises&CRS=EPSG:4549&BBOX=372000,3559000,373000,3560000", id="gk-swapped"),
    pytest.param(f"{WMS}&LAYERS=enterprises&CRS=EPSG:3857&BBOX=0,0,3e7,3e7", id="mercator-out-of-range"),
    pytest.param(f"{WMS}&LAYERS=enterprises&CRS=EPSG:4490&BBOX=32.0,118.9,31.9,118.8", id="bbox-min-max"),
    pytest.param(f"{WMS}&LAYERS=enterprises&CRS=EPSG:4490&BBOX=a,b,c,d", id="bbox-not-numbers"),
    pytest.param(WMS.replace("WIDTH=256", "WIDTH=100000") + "&LAYERS=enterprises&CRS=EPSG:4490&BBOX=31,118,32,119",
                 id="width-100000"),
    pytest.param(WMS.replace("HEIGHT=256", "HEIGHT=-5") + "&LAYERS=enterprises&CRS=EPSG:4490&BBOX=31,118,32,119",
                 id="negative-height"),
    pytest.param("SERVICE=WMS&REQUEST=GetCapabilities&map=/etc/passwd", id="map-parameter"),
    pytest.param("SERVICE=WMS&REQUEST=GetCapabilities&MAP=ONEMAP", id="map-key"),
    pytest.param(f"{WFS}&FILTER=" + quote("<fes:Filter><fes:PropertyIsEqualTo>"), id="malformed-filter"),
    pytest.param(f"{WFS}&FILTER=" + quote('<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'), id="filter-entities"),
    pytest.param(f"{WFS}&BBOX=118.8,31.9,118.9,32.0", id="wfs-bbox-swapped"),
    pytest.param("SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=onemap:nope", id="unknown-typename"),
    pytest.param(f"{WFS}&COUNT=abc", id="count-not-a-number"),
    pytest.param(f"{WFS}&STARTINDEX=-1", id="negative-startindex"),
    pytest.param(f"{WFS}&FILTER=" + quote(FES_EQ.format(prop="no_such_field", value="x")), id="unknown-property"),
    pytest.param("SERVICE=WMS&VERSION=1.3.0&REQUEST=NoSuchThing", id="unknown-request"),
    pytest.param("mode=browse&layers=all", id="cgi-mode"),
])
def test_bad_requests_get_an_ogc_exception(ows: SimpleNamespace, query: str) -> None:
    assert_ogc_exception(ows.client.get("/", query_string=query))


def test_unknown_coverage_keeps_mapservers_404(ows: SimpleNamespace) -> None:
    resp = ows.client.get("/", query_string="SERVICE=WCS&VERSION=2.0.1&REQUEST=GetCoverage&COVERAGEID=nope"
                                            "&FORMAT=image/tiff")
    assert_ogc_exception(resp, 404)


def test_bad_post_bodies(ows: SimpleNamespace) -> None:
    assert_ogc_exception(ows.client.post("/", data=b"<wfs:GetFeature", content_type="application/xml"))
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'
    assert_ogc_exception(ows.client.post("/", data=bomb, content_type="application/xml"))
    big = b"<a>" + b"x" * (2 << 20) + b"</a>"
    assert_ogc_exception(ows.client.post("/", data=big, content_type="application/xml"), 413)
    assert ows.client.put("/", data=b"x").status_code == 405


def _fake_mapserv(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "mapserv"
    path.write_text("#!/bin/sh\n" + script + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_a_hanging_mapserv_is_killed_with_504(ows: SimpleNamespace, tmp_path: Path) -> None:
    app = make_ows_app(ows.mapfile, ows.conf, mapserv=_fake_mapserv(tmp_path, "exec sleep 30"), timeout=0.5)
    resp = Client(app).get("/", query_string="SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities")
    assert_ogc_exception(resp, 504)
    assert root_name(resp.get_data()) == "ExceptionReport"


def test_a_crashing_mapserv_is_a_502(ows: SimpleNamespace, tmp_path: Path) -> None:
    app = make_ows_app(ows.mapfile, ows.conf, mapserv=_fake_mapserv(tmp_path, "exit 1"))
    assert_ogc_exception(Client(app).get("/", query_string="SERVICE=WMS&REQUEST=GetCapabilities"), 502)


def test_database_down_is_503_without_the_password(tmp_path: Path, demo_artifacts: Path) -> None:
    url = f"postgresql://onemap:s3cret-pw@127.0.0.1:{free_port()}/nowhere"
    config = load_config({"database": {"url": url}, "paths": {"var": str(demo_artifacts)}}, environ={})
    mapfile = build_mapfile(REGISTRY, default_styles(), config, tmp_path, extent=(118.7, 31.8, 119.3, 32.2))
    resp = Client(make_ows_app(mapfile, tmp_path / "mapserver.conf")).get("/", query_string=(
        f"{WMS}&LAYERS=enterprises&CRS=EPSG:4490&BBOX=31.9,118.8,32.0,118.9"))
    assert_ogc_exception(resp, 503)
    assert b"s3cret-pw" not in resp.get_data()


# -- real clients over HTTP -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def http_url(ows: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory, demo_db: str,
             demo_artifacts: Path) -> Iterator[str]:
    """The bridge on a real port; its capabilities advertise that port, as OWSLib follows them."""
    port = free_port()
    config = load_config({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)}}, environ={})
    out = tmp_path_factory.mktemp("mapserver-http")
    mapfile = build_mapfile(REGISTRY, default_styles(), config, out, base_url=f"http://127.0.0.1:{port}/",
                            extent=(118.7, 31.8, 119.3, 32.2))
    server = make_server("127.0.0.1", port, city_wide(make_ows_app(mapfile, out / "mapserver.conf")), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/"
    server.shutdown()
    thread.join(timeout=10)


@pytest.mark.system
def test_owslib_wms(http_url: str, db) -> None:  # noqa: ANN001
    from owslib.wms import WebMapService

    wms = WebMapService(http_url, version="1.3.0")
    assert {layer.id: wms[layer.id].title for layer in REGISTRY} == {layer.id: layer.title_zh for layer in REGISTRY}
    e = isolated_enterprise(db, "red")
    img = wms.getmap(layers=["enterprises"], styles=[""], srs="EPSG:4326", format="image/png", size=(256, 256),
                     bbox=(e.lon - 0.003, e.lat - 0.003, e.lon + 0.003, e.lat + 0.003))
    # OWSLib sends the bbox in the CRS's axis order for WMS 1.3.0 when given lon/lat for EPSG:4326
    image = Image.open(io.BytesIO(img.read())).convert("RGBA")
    assert close(image.getpixel((128, 128)), RED)


@pytest.mark.system
def test_owslib_wfs(http_url: str, db) -> None:  # noqa: ANN001
    from owslib.wfs import WebFeatureService

    wfs = WebFeatureService(http_url, version="2.0.0")
    assert {f"onemap:{layer.id}" for layer in REGISTRY} == set(wfs.contents)
    assert wfs["onemap:enterprises"].title == "生产经营单位"
    data = wfs.getfeature(typename=["onemap:enterprises"], maxfeatures=5, outputFormat="application/json").read()
    features = json.loads(data)["features"]
    assert len(features) == 5 and all(f["properties"]["name"] for f in features)


@pytest.mark.system
def test_owslib_wcs(http_url: str, tmp_path: Path) -> None:
    import rasterio
    from owslib.wcs import WebCoverageService

    wcs = WebCoverageService(http_url, version="2.0.1")
    assert "population" in wcs.contents
    out = wcs.getCoverage(identifier="population", format="image/tiff",
                          subsets=[("Long", 118.8, 118.9), ("Lat", 31.9, 32.0)])
    (tmp_path / "p.tif").write_bytes(out.read())
    with rasterio.open(tmp_path / "p.tif") as cov:
        assert cov.crs.to_epsg() == 4490 and cov.width > 50 and cov.height > 50
