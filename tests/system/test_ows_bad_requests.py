"""Bad requests to MapServer behind /ows get an OGC exception (4xx) instead of a 5xx, a blank image or an empty
answer; a hanging, crashing or disconnected mapserv gets a clean 5xx without secrets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from werkzeug.test import Client

from core.config import load_config
from mapserver.mapfile import build_mapfile
from mapserver.ows import make_ows_app
from styles import default_styles
from tests.conftest import free_port
from tests.system.ows_support import (
    FES_EQ,
    REGISTRY,
    assert_ogc_exception,
    root_name,
)

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


