"""The layer registry is the single source of truth: every layer in ``layers/defs`` shows up, with its Chinese
title, in every service a client can use — OGC API collections, WFS feature types, WMS layers with a legend, the
SLD, MapProxy tile layers (``tiles.raster``) and vector tiles (``tiles.mvt``) — and nothing else does.

The second half proves that adding a layer needs no code: a new YAML file (plus its style) in a copied
registry, and the generated pygeoapi config, mapfile and MapProxy config all serve it.
"""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mapbox_vector_tile
import pytest
import requests
import sqlalchemy as sa
import yaml
from lxml import etree
from PIL import Image
from werkzeug.test import Client

import styles
from layers.registry import DEFS_DIR, Layer, default_registry
from tests.tokens import mint_token, revoke_token

pytestmark = pytest.mark.system

REGISTRY = default_registry()
NS = {"wms": "http://www.opengis.net/wms", "wfs": "http://www.opengis.net/wfs/2.0",
      "ows": "http://www.opengis.net/ows/1.1", "wmts": "http://www.opengis.net/wmts/1.0",
      "sld": "http://www.opengis.net/sld", "se": "http://www.opengis.net/se",
      "xlink": "http://www.w3.org/1999/xlink"}
CITY_CENTRE = (119.0, 32.0)  # lon/lat inside the demo city
TILE_ZOOM = 12


@pytest.fixture(scope="module")
def http(live_server: str, dispatcher_session: tuple[str, str]) -> Iterator[requests.Session]:
    """A client signed in as a city-wide user (capabilities list only the layers the caller may read)."""
    token, token_id = mint_token(live_server, dispatcher_session, "test_registry_consistency")
    session = requests.Session()
    session.trust_env = False  # loopback only: a developer's proxy settings must not apply
    session.auth = ("qgis", token)  # HTTP Basic with the token as password, as QGIS sends it
    yield session
    session.close()
    revoke_token(live_server, dispatcher_session, token_id)


def fetch(http: requests.Session, url: str, content_type: str = "") -> requests.Response:
    resp = http.get(url, timeout=120)
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:300])
    assert resp.headers.get("Content-Type", "").startswith(content_type), (url, resp.headers.get("Content-Type"))
    return resp


def xml(http: requests.Session, url: str) -> etree._Element:
    return etree.fromstring(fetch(http, url).content)


def webmercator_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


# -- every registry layer in every service ------------------------------------------------------------------------
def test_ogcapi_collections_are_the_registry(live_server: str, http: requests.Session) -> None:
    body = fetch(http, f"{live_server}/ogcapi/collections?f=json&lang=zh-CN", "application/json").json()
    titles = {c["id"]: c["title"] for c in body["collections"] if c.get("itemType") == "feature"}
    assert titles == {layer.id: layer.title_zh for layer in REGISTRY}


def test_wfs_feature_types_are_the_registry(live_server: str, http: requests.Session) -> None:
    caps = xml(http, f"{live_server}/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities")
    types = {ft.findtext("wfs:Name", namespaces=NS): ft.findtext("wfs:Title", namespaces=NS)
             for ft in caps.iterfind(".//wfs:FeatureType", NS)}
    assert types == {f"onemap:{layer.id}": layer.title_zh for layer in REGISTRY}


def test_wms_layers_have_titles_and_a_legend(live_server: str, http: requests.Session) -> None:
    caps = xml(http, f"{live_server}/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities")
    named = {el.findtext("wms:Name", namespaces=NS): el for el in caps.iterfind(".//wms:Layer", NS)
             if el.find("wms:Name", NS) is not None}
    # the root layer "onemap" and the population raster are not registry layers
    assert set(named) - {"onemap", "population"} == set(REGISTRY.ids)
    for layer in REGISTRY:
        el = named[layer.id]
        assert el.findtext("wms:Title", namespaces=NS) == layer.title_zh
        legend = el.find("wms:Style/wms:LegendURL/wms:OnlineResource", NS)
        assert legend is not None, f"{layer.id} has no legend"
        href = legend.get(f"{{{NS['xlink']}}}href")
        assert href.startswith(live_server + "/ows"), href
        width, height = png_size(fetch(http, href, "image/png").content)
        assert width > 10 and height > 10, (layer.id, width, height)


@pytest.mark.parametrize("layer", REGISTRY, ids=lambda layer: layer.id)
def test_sld_is_published(live_server: str, http: requests.Session, layer: Layer) -> None:
    doc = xml(http, f"{live_server}/ows/styles/{layer.id}.sld")
    assert etree.QName(doc).localname == "StyledLayerDescriptor" and doc.get("version") == "1.1.0"
    assert doc.findtext("sld:NamedLayer/se:Name", namespaces=NS) == layer.id
    assert doc.findall(".//se:Rule", NS), f"{layer.id}: the SLD has no rules"


def test_mapproxy_tile_layers_are_the_raster_tiled_layers(live_server: str, http: requests.Session) -> None:
    caps = xml(http, f"{live_server}/tiles/wmts/1.0.0/WMTSCapabilities.xml")
    layers = {el.findtext("ows:Identifier", namespaces=NS): el.findtext("ows:Title", namespaces=NS)
              for el in caps.iterfind("wmts:Contents/wmts:Layer", NS)}
    tiled = {layer.id: layer.title_zh for layer in REGISTRY if layer.raster_tiles}
    assert tiled, "the registry declares raster tiles for some layers"
    assert {k: v for k, v in layers.items() if k != "basemap"} == tiled
    x, y = webmercator_tile(*CITY_CENTRE, TILE_ZOOM)
    for layer_id in tiled:
        tile = fetch(http, f"{live_server}/tiles/wmts/{layer_id}/webmercator/{TILE_ZOOM}/{x}/{y}.png", "image/png")
        assert png_size(tile.content) == (256, 256)


def test_vector_tiles_exactly_where_the_registry_asks(live_server: str, http: requests.Session) -> None:
    assert any(layer.mvt for layer in REGISTRY)
    x, y = webmercator_tile(*CITY_CENTRE, TILE_ZOOM)
    for layer in REGISTRY:
        url = f"{live_server}/ogcapi/collections/{layer.id}/tiles/WebMercatorQuad/{TILE_ZOOM}/{y}/{x}?f=mvt"
        resp = http.get(url, timeout=120)
        if not layer.mvt:
            assert 400 <= resp.status_code < 500, (layer.id, resp.status_code)
            continue
        assert resp.status_code == 200, (layer.id, resp.status_code, resp.text[:300])
        assert resp.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
        assert mapbox_vector_tile.decode(resp.content)[layer.id]["features"]


# -- adding a layer needs no code ---------------------------------------------------------------------------------
NEW_ID = "major_hospitals"
NEW_TITLE = "三级医院（应急救治）"
NEW_LAYER = f"""\
id: {NEW_ID}
title: {{zh-CN: {NEW_TITLE}, en: Major hospitals}}
table: hospitals
geometry: Point
group: resources
access: public
style: {NEW_ID}
zoom: {{min: 8, max: 20}}
searchable: [name]
tiles: {{mvt: true, raster: true}}
fields:
  - {{name: name, type: string, length: 100, label: 医院名称, label_en: Name, required: true}}
  - {{name: level, type: string, length: 10, label: 医院等级, label_en: Grade, required: true,
     enum: [grade3a, grade3, grade2, grade1]}}
  - {{name: beds, type: integer, label: 床位数, label_en: Beds, required: true, min: 1}}
"""
NEW_STYLE = f"""\
id: {NEW_ID}
title: {{zh-CN: {NEW_TITLE}, en: Major hospitals}}
geometry: point
classes:
  - name: large
    title: {{zh-CN: 床位500张以上, en: 500 beds or more}}
    filter: {{property: beds, range: {{min: 500}}}}
    marker: {{shape: square, size: 14, fill: "#C62828", stroke: {{colour: "#FFFFFF", width: 2}}}}
  - name: other
    title: {{zh-CN: 其他医院, en: Other hospitals}}
    marker: {{shape: square, size: 10, fill: "#EF9A9A", stroke: {{colour: "#FFFFFF", width: 1}}}}
"""


def _copy_registry(tmp: Path) -> tuple[Path, Path]:
    defs, style_dir = tmp / "defs", tmp / "styles"
    shutil.copytree(DEFS_DIR, defs)
    style_dir.mkdir()
    for path in styles.STYLES_DIR.glob("*.yaml"):
        shutil.copy(path, style_dir / path.name)
    return defs, style_dir


def _use_registry(monkeypatch: pytest.MonkeyPatch, defs: Path, style_dir: Path) -> None:
    monkeypatch.setenv("ONEMAP_LAYERS_DIR", str(defs))
    monkeypatch.setenv("ONEMAP_STYLES_DIR", str(style_dir))
    default_registry.cache_clear()
    styles.default_styles.cache_clear()


@pytest.fixture
def extended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_db: str) -> Iterator[SimpleNamespace]:
    """A copy of the registry and styles plus one new layer; every configuration built from it into a tmp var."""
    from core.config import load_config
    from mapserver.build import build_all

    defs, style_dir = _copy_registry(tmp_path)
    (defs / f"{NEW_ID}.yaml").write_text(NEW_LAYER, encoding="utf-8")
    (style_dir / f"{NEW_ID}.yaml").write_text(NEW_STYLE, encoding="utf-8")
    _use_registry(monkeypatch, defs, style_dir)
    try:
        config = load_config({"database": {"url": demo_db}, "paths": {"var": str(tmp_path / "var")},
                              "server": {"public_url": "http://127.0.0.1:9"},
                              "logging": {"level": "WARNING", "format": "json"}}, environ={})
        yield SimpleNamespace(config=config, files=build_all(config))
    finally:
        # the environment is restored by monkeypatch right after; the caches must not outlive it
        default_registry.cache_clear()
        styles.default_styles.cache_clear()


def test_a_new_layer_file_is_served_everywhere(extended: SimpleNamespace, demo_db: str) -> None:
    from mapproxy.wsgiapp import make_wsgi_app

    from mapserver.ogcapi import make_ogcapi_app
    from mapserver.ows import make_ows_app

    files = extended.files
    engine = sa.create_engine(demo_db)
    with engine.connect() as conn:
        hospitals = conn.execute(sa.text("SELECT count(*) FROM hospitals")).scalar_one()
    engine.dispose()
    assert hospitals > 0

    # pygeoapi: a collection over the same table, with vector tiles
    pygeoapi = yaml.safe_load(files["pygeoapi.pygeoapi"].read_text(encoding="utf-8"))
    resource = pygeoapi["resources"][NEW_ID]
    assert resource["title"]["zh"] == NEW_TITLE
    assert [p["table"] for p in resource["providers"]] == ["hospitals", "hospitals"]
    openapi = yaml.safe_load(files["pygeoapi.openapi"].read_text(encoding="utf-8"))
    api = make_ogcapi_app(pygeoapi, openapi).test_client()
    body = api.get(f"/collections/{NEW_ID}/items?f=json&limit=1").get_json()
    assert body["numberMatched"] == hospitals

    # MapServer: a WMS/WFS layer with the Chinese title, its legend and its SLD
    mapfile = files["mapserver.mapfile"]
    assert f'NAME "{NEW_ID}"' in mapfile.read_text(encoding="utf-8")
    assert (files["mapserver.sld_dir"] / f"{NEW_ID}.sld").is_file()
    ows = Client(make_ows_app(mapfile, files["mapserver.mapserver_conf"], sld_dir=files["mapserver.sld_dir"]))
    hits = ows.get("/", query_string=f"SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=onemap:{NEW_ID}"
                                     "&RESULTTYPE=hits")
    assert int(etree.fromstring(hits.get_data()).get("numberMatched")) == hospitals
    caps = etree.fromstring(ows.get("/", query_string="SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities")
                            .get_data())
    titles = {el.findtext("wms:Name", namespaces=NS): el.findtext("wms:Title", namespaces=NS)
              for el in caps.iterfind(".//wms:Layer", NS)}
    assert titles[NEW_ID] == NEW_TITLE
    legend = ows.get("/", query_string=f"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER={NEW_ID}"
                                       "&FORMAT=image/png&SLD_VERSION=1.1.0")
    assert legend.status_code == 200 and png_size(legend.get_data())[1] > 10

    # MapProxy: a WMTS layer rendered through the new mapfile layer
    mapproxy = yaml.safe_load(files["mapproxy.mapproxy"].read_text(encoding="utf-8"))
    assert {"name": NEW_ID, "title": NEW_TITLE, "sources": [f"{NEW_ID}_cache"]} in mapproxy["layers"]
    assert mapproxy["sources"][f"ms_{NEW_ID}"]["req"]["layers"] == NEW_ID
    tiles = Client(make_wsgi_app(str(files["mapproxy.mapproxy"]), reloader=False))
    x, y = webmercator_tile(*CITY_CENTRE, TILE_ZOOM)
    tile = tiles.get(f"/wmts/{NEW_ID}/webmercator/{TILE_ZOOM}/{x}/{y}.png")
    assert tile.status_code == 200 and png_size(tile.get_data()) == (256, 256)


def test_ensure_built_notices_a_layer_added_to_layers_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          demo_db: str) -> None:
    """A deployment with its own registry adds a layer file and restarts: the app must rebuild its configs."""
    from core.config import load_config
    from mapserver.build import ensure_built

    defs, style_dir = _copy_registry(tmp_path)
    config = load_config({"database": {"url": demo_db}, "paths": {"var": str(tmp_path / "var")}}, environ={})
    try:
        _use_registry(monkeypatch, defs, style_dir)
        ensure_built(config)
        (defs / f"{NEW_ID}.yaml").write_text(NEW_LAYER, encoding="utf-8")
        (style_dir / f"{NEW_ID}.yaml").write_text(NEW_STYLE, encoding="utf-8")
        _use_registry(monkeypatch, defs, style_dir)  # a restart: caches are empty again
        files = ensure_built(config)
        pygeoapi = yaml.safe_load(files["pygeoapi.pygeoapi"].read_text(encoding="utf-8"))
        assert NEW_ID in pygeoapi["resources"]
    finally:
        # the environment is restored by monkeypatch right after; the caches must not outlive it
        default_registry.cache_clear()
        styles.default_styles.cache_clear()
