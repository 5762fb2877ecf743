"""Every layer of the registry, through every protocol it is offered on, as every demo role, with real credentials.

``test_permission_matrix.py`` tries every protocol family on a few chosen objects with identities injected below
the authentication. This module complements it by covering the whole class: each layer × each protocol the
generated configurations offer it on (OGC API items and item, WFS GetFeature hits and GeoJSON, WMS GetMap and GetFeatureInfo,
MapProxy tiles by WMTS REST/XYZ and KVP, WMTS and TMS capabilities, OGC API vector tiles) × anonymous and each demo user, signed in for real and reading with an
``ogc:read`` API token as HTTP Basic, as QGIS does. Each answer is checked against PostGIS: 401/403 where the
requirement refuses the layer; otherwise the number of rows the role may see (counted with SQL on the district
and enterprise columns, not with the scope code under test), a row it may see is there and a row it may not see
is not, on lists, by id, on maps, in feature info and in tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from lxml import etree

from layers.registry import Layer
from mapserver.mapproxy_config import GRIDS
from tests.system.layer_matrix_support import (
    OWN,
    PROTOCOLS,
    REGISTRY,
    ROLES,
    Expectation,
    build_world,
    expectation,
    generated_offer,
    scope_sql,
    served_offer,
    visible_ids,
)
from tests.system.test_permission_matrix import painted, xyz

MAP_ZOOM, TILE_ZOOM, MVT_ZOOM = 16, 16, 15
HALF = 0.0005  # half the side (degrees) of a WMS window: ~zoom 16 at 64 px


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    yield from build_world(pg_cluster, demo_artifacts, tmp_path_factory)


def get(world: SimpleNamespace, role: str, path: str) -> Any:
    return world.client.get(path, headers=world.headers[role])


def assert_refused(response: Any, role: str) -> None:
    assert response.status_code == (401 if role == "anonymous" else 403), (response.status_code, response.data[:300])


def any_id(world: SimpleNamespace, layer: Layer) -> int:
    with world.engine.connect() as conn:
        return conn.execute(sa.text(f'SELECT min("{layer.id_field}") FROM "{layer.table}"')).scalar_one()


def _wms(layer: Layer, request: str, lonlat: tuple[float, float], **extra: str) -> str:
    lon, lat = lonlat
    params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": request, "LAYERS": layer.id, "STYLES": "",
              "CRS": "EPSG:4326", "BBOX": f"{lat - HALF},{lon - HALF},{lat + HALF},{lon + HALF}", "WIDTH": "64",
              "HEIGHT": "64", "FORMAT": "image/png", "TRANSPARENT": "TRUE", **extra}
    return "/ows?" + urlencode(params)


# -- one check per protocol ---------------------------------------------------------------------------------------
def check_ogcapi_items(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    response = get(world, role, f"/ogcapi/collections/{layer.id}/items?f=json&limit=5")
    if exp.scope is None:
        return assert_refused(response, role)
    assert response.status_code == 200, response.data[:300]
    body = response.get_json()
    assert body["numberMatched"] == exp.count
    ids = [f["id"] for f in body["features"]]
    assert len(ids) == min(5, exp.count)
    assert visible_ids(world, role, layer, ids) == set(ids)


def check_ogcapi_item(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    if exp.scope is None:
        return assert_refused(get(world, role, f"/ogcapi/collections/{layer.id}/items/{any_id(world, layer)}"), role)
    if exp.visible is not None:
        response = get(world, role, f"/ogcapi/collections/{layer.id}/items/{exp.visible.id}?f=json")
        assert response.status_code == 200, response.data[:300]
        assert response.get_json()["id"] == exp.visible.id
    if exp.hidden is not None:
        response = get(world, role, f"/ogcapi/collections/{layer.id}/items/{exp.hidden.id}?f=json")
        assert response.status_code == 404, response.data[:300]


def check_wfs_hits(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    response = get(world, role, "/ows?" + urlencode({"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
                                                      "TYPENAMES": layer.id, "RESULTTYPE": "hits"}))
    if exp.scope is None:
        return assert_refused(response, role)
    assert response.status_code == 200, response.data[:300]
    assert int(etree.fromstring(response.data).get("numberMatched")) == exp.count, response.data[:300]


def check_wfs_geojson(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    response = get(world, role, "/ows?" + urlencode({"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
                                                      "TYPENAMES": layer.id, "COUNT": "5", "OUTPUTFORMAT": "geojson"}))
    if exp.scope is None:
        return assert_refused(response, role)
    assert response.status_code == 200, response.data[:300]
    body = response.get_json(force=True)
    assert body["numberMatched"] == exp.count
    ids = [f["id"] for f in body["features"]]
    assert len(ids) == min(5, exp.count)
    assert visible_ids(world, role, layer, ids) == set(ids)


def check_wms_getmap(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    if exp.scope is None:
        return assert_refused(get(world, role, _wms(layer, "GetMap", (119.0, 32.0))), role)
    for sample, seen in ((exp.visible, True), (exp.hidden, False)):
        if sample is not None:
            response = get(world, role, _wms(layer, "GetMap", sample.anchor))
            assert response.status_code == 200 and response.mimetype == "image/png", response.data[:300]
            assert painted(response.data, 32, 32, 2) is seen, (sample, seen)


def gfi_ids(body: bytes, layer: Layer) -> list[int]:
    root = etree.fromstring(body)
    return [int(child.text) for feature in root.iter(f"{layer.id}_feature") for child in feature
            if child.tag == layer.id_field]


def check_wms_getfeatureinfo(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    def ask(lonlat: tuple[float, float]) -> Any:
        return get(world, role, _wms(layer, "GetFeatureInfo", lonlat, QUERY_LAYERS=layer.id, I="32", J="32",
                                     INFO_FORMAT="application/vnd.ogc.gml", FEATURE_COUNT="50"))

    if exp.scope is None:
        return assert_refused(ask((119.0, 32.0)), role)
    for sample, seen in ((exp.visible, True), (exp.hidden, False)):
        if sample is not None:
            response = ask(sample.inner)
            assert response.status_code == 200, response.data[:300]
            ids = gfi_ids(response.data, layer)
            assert (sample.id in ids) is seen, (sample, ids)
            assert visible_ids(world, role, layer, ids) == set(ids), ids


def check_tiles_xyz(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    def tile(lonlat: tuple[float, float]) -> tuple[Any, int, int]:
        x, y, px, py = xyz(*lonlat, TILE_ZOOM)
        return get(world, role, f"/tiles/wmts/{layer.id}/webmercator/{TILE_ZOOM}/{x}/{y}.png"), px, py

    if exp.scope is None or exp.scope == OWN:  # one shared cache cannot be cut to an enterprise: refused
        return assert_refused(tile((119.0, 32.0))[0], role)
    for sample, seen in ((exp.visible, True), (exp.hidden, False)):
        if sample is not None:
            response, px, py = tile(sample.anchor)
            assert response.status_code == 200, response.data[:300]
            assert painted(response.data, px, py, 2) is seen, (sample, seen)


def check_wmts_kvp(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    """GetTile (KVP) on the CGCS2000 grid (天地图's "c" matrix set: origin top left, resolutions from the config)."""
    res = GRIDS["cgcs2000"]["res"][TILE_ZOOM]

    def tile(lonlat: tuple[float, float]) -> tuple[Any, int, int]:
        fx, fy = (lonlat[0] + 180) / res, (90 - lonlat[1]) / res
        params = {"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": layer.id, "STYLE": "default",
                  "TILEMATRIXSET": "cgcs2000", "TILEMATRIX": f"{TILE_ZOOM:02d}", "TILEROW": int(fy // 256),
                  "TILECOL": int(fx // 256), "FORMAT": "image/png"}
        return get(world, role, "/tiles/service?" + urlencode(params)), int(fx % 256), int(fy % 256)

    if exp.scope is None or exp.scope == OWN:
        return assert_refused(tile((119.0, 32.0))[0], role)
    for sample, seen in ((exp.visible, True), (exp.hidden, False)):
        if sample is not None:
            response, px, py = tile(sample.anchor)
            assert response.status_code == 200, response.data[:300]
            assert painted(response.data, px, py, 2) is seen, (sample, seen)


def capabilities(world: SimpleNamespace, role: str, kind: str) -> tuple[int, set[tuple[str, str]]]:
    """(status, {(layer, grid)}) of the role's WMTS or TMS capabilities (fetched once per role)."""
    key = (role, kind)
    if key not in world.documents:
        path = {"wmts": "/tiles/wmts/1.0.0/WMTSCapabilities.xml", "tms": "/tiles/tms/1.0.0/"}[kind]
        response = get(world, role, path)
        listed: set[tuple[str, str]] = set()
        if response.status_code == 200:
            root = etree.fromstring(response.data)
            if kind == "tms":
                listed = {tuple(m.get("href").rstrip("/").rsplit("/", 2)[-2:]) for m in root.iter("TileMap")}
            else:
                for lyr in root.iter("{*}Layer"):
                    name = lyr.findtext("{*}Identifier")
                    listed |= {(name, link.findtext("{*}TileMatrixSet")) for link in lyr.iter("{*}TileMatrixSetLink")}
        world.documents[key] = (response.status_code, listed)
    return world.documents[key]


def check_capabilities(kind: str) -> Callable[[SimpleNamespace, str, Layer, Expectation], None]:
    def check(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
        status, listed = capabilities(world, role, kind)
        mine = {grid for name, grid in listed if name == layer.id}
        if exp.scope is None or exp.scope == OWN:
            assert status in (401, 403) or (status == 200 and not mine), (status, mine)
        else:
            assert status == 200 and mine == set(GRIDS), (status, mine)

    return check


def tile_bounds(x: int, y: int, z: int) -> tuple[float, float, float, float]:
    n = 2 ** z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def check_mvt(world: SimpleNamespace, role: str, layer: Layer, exp: Expectation) -> None:
    def tile(lonlat: tuple[float, float]) -> tuple[Any, list[int], tuple[int, int]]:
        x, y, _, _ = xyz(*lonlat, MVT_ZOOM)
        response = get(world, role, f"/ogcapi/collections/{layer.id}/tiles/WebMercatorQuad/{MVT_ZOOM}/{y}/{x}?f=mvt")
        ids = [] if response.status_code != 200 else [
            f["id"] for lyr in mapbox_vector_tile.decode(response.data).values() for f in lyr["features"]]
        return response, ids, (x, y)

    if exp.scope is None:
        return assert_refused(tile((119.0, 32.0))[0], role)
    for sample, seen in ((exp.visible, True), (exp.hidden, False)):
        if sample is None:
            continue
        response, ids, (x, y) = tile(sample.anchor)
        assert response.status_code in (200, 204), response.data[:300]
        assert (sample.id in ids) is seen, (sample, ids)
        assert visible_ids(world, role, layer, ids) == set(ids), ids
        if layer.geometry == "Point":  # the tile holds exactly the visible points inside it
            user = world.users.get(role, {})
            with world.engine.connect() as conn:
                inside = conn.execute(sa.text(
                    f'SELECT count(*) FROM "{layer.table}" t WHERE t.geom && ST_MakeEnvelope(:a, :b, :c, :d, 4490) '
                    f"AND {scope_sql(exp.scope, layer)}"), dict(zip("abcd", tile_bounds(x, y, MVT_ZOOM), strict=True),
                    districts=[user["district_code"]] if user.get("district_code") else [],
                    uscc=user.get("enterprise_uscc") or "")).scalar_one()
            assert len(ids) == inside


CHECKS: dict[str, Callable[[SimpleNamespace, str, Layer, Expectation], None]] = {
    "ogcapi_items": check_ogcapi_items, "ogcapi_item": check_ogcapi_item, "wfs_hits": check_wfs_hits,
    "wfs_geojson": check_wfs_geojson,
    "wms_getmap": check_wms_getmap, "wms_getfeatureinfo": check_wms_getfeatureinfo, "tiles_xyz": check_tiles_xyz,
    "wmts_kvp": check_wmts_kvp, "wmts_capabilities": check_capabilities("wmts"),
    "tms_capabilities": check_capabilities("tms"), "mvt": check_mvt}
CASES = [pytest.param(role, layer.id, protocol, id=f"{role}-{layer.id}-{protocol}")
         for role in ROLES for layer in REGISTRY for protocol in PROTOCOLS if protocol in generated_offer()[layer.id]]


def test_the_cases_cover_what_the_running_app_offers(world: SimpleNamespace) -> None:
    """The cases come from the generators; the app serves from the files it wrote: they must agree, and every
    layer must be offered somewhere (else it would silently drop out of the matrix)."""
    assert served_offer(world.settings) == generated_offer()
    assert all(generated_offer()[layer.id] for layer in REGISTRY)
    assert set(CHECKS) == set(PROTOCOLS)


@pytest.mark.parametrize(("role", "layer_id", "protocol"), CASES)
def test_layer_through_protocol_as_role(world: SimpleNamespace, role: str, layer_id: str, protocol: str) -> None:
    layer = REGISTRY.get(layer_id)
    CHECKS[protocol](world, role, layer, expectation(world, role, layer))
