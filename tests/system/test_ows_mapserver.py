"""MapServer behind the /ows WSGI bridge, against the demo city: WMS 1.3.0/1.1.1, WFS 2.0, WCS 2.0.1 and SLD."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import numpy as np
import pytest
import sqlalchemy as sa
from lxml import etree
from PIL import Image
from werkzeug.test import Client

from mapserver.mapfile import MAPSERV
from mapserver.ows import make_ows_app
from tests.system.ows_support import (
    FES_EQ,
    FES_LIKE,
    NS,
    ORANGE,
    RED,
    REGISTRY,
    assert_ogc_exception,
    box,
    city_wide,
    close,
    get,
    hits,
    isolated_enterprise,
    png,
)


# -- the generated files ------------------------------------------------------------------------------------------
def test_generated_files_keep_the_password_out(ows: SimpleNamespace, demo_db: str) -> None:
    password = sa.engine.make_url(demo_db).password
    text = ows.mapfile.read_text(encoding="utf-8")
    assert password and password not in text and password not in ows.conf.read_text(encoding="utf-8")
    assert "passfile=" in text and "MAXSIZE 4096" in text
    assert stat.S_IMODE(os.stat(ows.mapfile.parent / "pgpass").st_mode) == 0o600
    # every layer advertises (and MapServer counts within) the city's box, and so does each hidden label layer
    # (else each GetCapabilities runs ST_Extent over its anchors); the address comes per request
    labels = len(re.findall(r'NAME "[a-z_]+__labels"', text))
    assert labels and len(re.findall(r'"ows_extent" "118\.\d+ 31\.\d+ 119\.\d+ 32\.\d+"', text)) == len(REGISTRY) + labels
    assert "-180 -90 180 90" not in text and "onlineresource" not in text
    assert "wfs_maxfeatures" not in text and "ows_maxfeatures" not in text


def _mapserv(ows: SimpleNamespace, query: str) -> bytes:
    """The binary itself, as nginx/FastCGI runs it in production (none of the bridge's checks)."""
    env = {"PATH": "/usr/bin:/bin", "MAPSERVER_CONFIG_FILE": str(ows.conf), "REQUEST_METHOD": "GET",
           "QUERY_STRING": query, "MS_MAPFILE": str(ows.mapfile), "SERVER_NAME": "localhost", "SERVER_PORT": "80",
           "SCRIPT_NAME": "/ows"}  # as nginx passes them (fastcgi_params, mapserver/README.md)
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
def test_getmap_draws_risk_colours_where_the_enterprises_are(ows: SimpleNamespace, ows_db, crs: str,  # noqa: ANN001
                                                            version: str) -> None:
    for colour, rgb in (("red", RED), ("orange", ORANGE)):
        e = isolated_enterprise(ows_db, colour)
        crs_key = "CRS" if version == "1.3.0" else "SRS"
        image = png(get(ows, SERVICE="WMS", VERSION=version, REQUEST="GetMap", LAYERS="enterprises", STYLES="",
                        FORMAT="image/png", WIDTH=256, HEIGHT=256, BBOX=box(e.lon, e.lat, crs, version=version),
                        **{crs_key: crs}))
        assert close(image.getpixel((128, 128)), rgb), (colour, crs, image.getpixel((128, 128)))
        assert image.getpixel((5, 5))[3] == 0, "only the enterprise is drawn; the rest is transparent"


def test_getmap_jpeg_and_8bit_png(ows: SimpleNamespace, ows_db) -> None:  # noqa: ANN001
    e = isolated_enterprise(ows_db, "red")
    for fmt, kind in (("image/jpeg", "JPEG"), ("image/png; mode=8bit", "PNG")):
        resp = get(ows, SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="districts,enterprises", STYLES=",",
                   CRS="EPSG:4490", BBOX=box(e.lon, e.lat, "EPSG:4490"), WIDTH=64, HEIGHT=64, FORMAT=fmt)
        assert resp.status_code == 200
        assert Image.open(io.BytesIO(resp.get_data())).format == kind


def test_chinese_labels_render(ows: SimpleNamespace, ows_db) -> None:  # noqa: ANN001
    """At zoom ~17 the enterprise name is drawn above the symbol in the CJK font (dark text on a white halo)."""
    e = isolated_enterprise(ows_db, "blue")
    image = png(get(ows, SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="enterprises", STYLES="",
                    CRS="EPSG:4490", BBOX=box(e.lon, e.lat, "EPSG:4490", half=0.0008), WIDTH=400, HEIGHT=400,
                    FORMAT="image/png"))
    band = np.asarray(image.crop((60, 150, 340, 196)))
    dark = int(((band[..., 3] > 200) & (band[..., :3].max(axis=2) < 90)).sum())
    assert dark > 80, f"no label text above the symbol ({dark} dark pixels)"


@pytest.mark.parametrize("info_format", ["text/html", "application/json", "application/vnd.ogc.gml",
                                         "application/vnd.ogc.gml/3.1.1"])
def test_getfeatureinfo_returns_the_clicked_enterprise(ows: SimpleNamespace, ows_db, info_format: str) -> None:  # noqa: ANN001
    e = isolated_enterprise(ows_db, "red")
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
def test_hits_equal_the_database_count(ows: SimpleNamespace, ows_db, layer_id: str) -> None:  # noqa: ANN001
    """The 999-of-1,000 bug: MapServer counted inside a rounded ST_Extent() box; every row must be counted."""
    table = REGISTRY.get(layer_id).table
    ids = set(ows_db.execute(sa.text(f'select id from "{table}"')).scalars())
    assert hits(ows, f"onemap:{layer_id}") == len(ids)
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES=f"onemap:{layer_id}",
               OUTPUTFORMAT="application/json", PROPERTYNAME="id")
    assert {f["id"] for f in json.loads(resp.get_data())["features"]} == ids


def test_paging_through_geojson_returns_every_enterprise_once(ows: SimpleNamespace, ows_db) -> None:  # noqa: ANN001
    ids: list[int] = []
    for start in range(0, 6000, 1000):
        resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="onemap:enterprises",
                   OUTPUTFORMAT="application/json", COUNT=1000, STARTINDEX=start, SORTBY="id")
        page = json.loads(resp.get_data())
        assert page["numberMatched"] == 5000
        ids += [f["id"] for f in page["features"]]
    assert len(ids) == len(set(ids)) == 5000
    assert set(ids) == set(ows_db.execute(sa.text("select id from enterprises")).scalars())


def test_getfeature_gml32(ows: SimpleNamespace) -> None:
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="onemap:enterprises", COUNT=7)
    assert resp.status_code == 200 and "gml/3.2" in resp.headers["Content-Type"]
    doc = etree.fromstring(resp.get_data())
    assert doc.get("numberReturned") == "7" and doc.get("numberMatched") == "5000"
    members = doc.findall("wfs:member", NS)
    assert len(members) == 7 and members[0][0].get(f"{{{NS['gml']}}}id").startswith("enterprises.")


def test_bbox_count_matches_postgis(ows: SimpleNamespace, ows_db) -> None:  # noqa: ANN001
    w, s, e, n = 118.85, 31.95, 119.05, 32.1
    expected = ows_db.execute(sa.text("select count(*) from enterprises where "
                                  "st_intersects(geom, st_makeenvelope(:w, :s, :e, :n, 4490))"),
                          {"w": w, "s": s, "e": e, "n": n}).scalar_one()
    assert expected > 0
    assert hits(ows, "onemap:enterprises", BBOX=f"{s},{w},{n},{e},urn:ogc:def:crs:EPSG::4490") == expected
    assert hits(ows, "onemap:enterprises", BBOX=f"{w},{s},{e},{n},urn:ogc:def:crs:OGC:1.3:CRS84") == expected
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="onemap:enterprises",
               OUTPUTFORMAT="application/json", BBOX=f"{s},{w},{n},{e}")
    assert len(json.loads(resp.get_data())["features"]) == expected


def test_resource_id_and_property_filters(ows: SimpleNamespace, ows_db) -> None:  # noqa: ANN001
    e = isolated_enterprise(ows_db, "orange")
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", RESOURCEID=f"enterprises.{e.id}",
               OUTPUTFORMAT="application/json")
    assert [f["properties"]["name"] for f in json.loads(resp.get_data())["features"]] == [e.name]
    red = ows_db.execute(sa.text("select count(*) from enterprises where risk_colour = 'red'")).scalar_one()
    assert hits(ows, "onemap:enterprises", FILTER=FES_EQ.format(prop="risk_colour", value="red")) == red
    fragment = e.name[1:4]
    like = ows_db.execute(sa.text("select count(*) from enterprises where name like :p"),
                      {"p": f"%{fragment}%"}).scalar_one()
    assert hits(ows, "onemap:enterprises", FILTER=FES_LIKE.format(prop="name", value=f"*{fragment}*")) == like


def test_post_getfeature_with_filter(ows: SimpleNamespace, ows_db) -> None:  # noqa: ANN001
    body = ('<wfs:GetFeature service="WFS" version="2.0.0" resultType="hits" xmlns:wfs="http://www.opengis.net/wfs/2.0"'
            ' xmlns:onemap="https://onemap.example/ns/onemap"><wfs:Query typeNames="onemap:hazard_sources">'
            + FES_EQ.format(prop="grade", value="1") + "</wfs:Query></wfs:GetFeature>")
    resp = ows.client.post("/", data=body.encode(), content_type="application/xml")
    assert resp.status_code == 200, resp.get_data()[:400]
    expected = ows_db.execute(sa.text("select count(*) from hazard_sources where grade = 1")).scalar_one()
    assert int(etree.fromstring(resp.get_data()).get("numberMatched")) == expected


@pytest.mark.parametrize("template", [FES_EQ, FES_LIKE])
def test_sql_injection_in_filters_matches_nothing(ows: SimpleNamespace, ows_db, template: str) -> None:  # noqa: ANN001
    for value in ("' OR 1=1 --", "*' OR 1=1 --*", "x'); DROP TABLE enterprises; --"):
        assert hits(ows, "onemap:enterprises", FILTER=template.format(prop="name", value=value)) == 0
    assert ows_db.execute(sa.text("select count(*) from enterprises")).scalar_one() == 5000


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


def test_mapserver_applies_the_compiled_sld(ows: SimpleNamespace, ows_db, tmp_path: Path) -> None:  # noqa: ANN001
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
        e = isolated_enterprise(ows_db, colour)
        resp = client.get("/", query_string="&".join([
            "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=enterprises&STYLES=&CRS=EPSG:4490",
            f"BBOX={box(e.lon, e.lat, 'EPSG:4490')}&WIDTH=256&HEIGHT=256&FORMAT=image/png",
            "SLD_BODY=" + quote(sld)]))
        assert close(png(resp).getpixel((128, 128)), rgb), colour
    broken = sld.replace("#E02020", "#00FF00")
    e = isolated_enterprise(ows_db, "red")
    resp = client.get("/", query_string="&".join([
        "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=enterprises&STYLES=&CRS=EPSG:4490",
        f"BBOX={box(e.lon, e.lat, 'EPSG:4490')}&WIDTH=256&HEIGHT=256&FORMAT=image/png", "SLD_BODY=" + quote(broken)]))
    assert close(png(resp).getpixel((128, 128)), (0, 255, 0)), "the SLD, not the mapfile, decided the colour"




def test_labels_use_simplified_chinese_glyphs(ows: SimpleNamespace) -> None:
    """MapServer draws with the fontset's files: they must give 直 its Simplified-Chinese shape, not the Japanese
    one of the Noto CJK collection's first face."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    from mapserver.mapfile import FONTS

    def glyph(path: str, index: int = 0) -> bytes:
        image = PILImage.new("L", (80, 80))
        ImageDraw.Draw(image).text((4, 0), "直", font=ImageFont.truetype(path, 64, index=index), fill=255)
        return image.tobytes()

    fontset = dict(line.split(" ", 1) for line in (ows.mapfile.parent / "fonts.list").read_text().splitlines())
    assert set(fontset) == set(FONTS)
    for alias, collection in FONTS.items():
        japanese, chinese = glyph(str(collection), 0), glyph(str(collection), 2)
        assert japanese != chinese  # the character tells the two faces apart
        assert glyph(fontset[alias]) == chinese, alias
