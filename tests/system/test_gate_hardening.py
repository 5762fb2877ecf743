"""The policy gate under attack and in the wrong setup: injection and scope tampering on protected layers (4xx,
never 5xx, never an extra row, always an audit record), denials in each surface's own format, temporary grants
from the database, and the services refusing to serve scoped data when reached without the gate."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from lxml import etree
from werkzeug.test import Client

from core.identity import Identity
from tests.system.test_permission_matrix import (
    FOREIGN_DISTRICT,
    OWN_DISTRICT,
    build_world,
    call,
    painted,
    xyz,
)

DR = "district_regulator"
FES = "http://www.opengis.net/fes/2.0"


def fes(prop: str, value: str) -> str:
    return (f'<fes:Filter xmlns:fes="{FES}"><fes:PropertyIsEqualTo><fes:ValueReference>{prop}</fes:ValueReference>'
            f"<fes:Literal>{value}</fes:Literal></fes:PropertyIsEqualTo></fes:Filter>")


def wfs(typename: str = "hazard_sources", **extra: str) -> str:
    query = "&".join(f"{k}={quote(v)}" for k, v in extra.items())
    return f"/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES={typename}&RESULTTYPE=hits&{query}"


def hits(response: Any) -> int:
    assert response.status_code == 200, response.data[:400]
    return int(etree.fromstring(response.data).get("numberMatched"))


def scalar(world: SimpleNamespace, sql: str, **params: Any) -> Any:
    with world.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts, tmp_path_factory):  # noqa: ANN001, ANN201
    yield from build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_gate_hardening")


@pytest.fixture(autouse=True)
def _fresh_events(world: SimpleNamespace) -> None:
    world.events.clear()


GET_FEATURE_XML = ('<wfs:GetFeature xmlns:wfs="http://www.opengis.net/wfs/2.0" service="WFS" version="2.0.0" '
                   'resultType="hits"><wfs:Query typeNames="hazard_sources">{filter}</wfs:Query></wfs:GetFeature>')
ATTACKS = [  # label, method, path, request kwargs, status, audit event
    ("cql2 statement", "GET", "/ogcapi/collections/hazard_sources/items?f=json&filter-lang=cql2-text&filter="
     + quote("code = 'x'; DROP TABLE hazard_sources; --"), {}, 400, "suspicious_filter"),
    ("cql2 comment", "GET", "/ogcapi/collections/hazard_sources/items?f=json&filter="
     + quote("district_code = '329903' /* */"), {}, 400, "suspicious_filter"),
    ("fe literal quotes (kvp)", "GET", wfs(FILTER=fes("code", "x' OR '1'='1")), {}, 400, "suspicious_filter"),
    ("fe literal entity quotes", "GET", wfs(FILTER=fes("code", "x&apos; OR &apos;1&apos;=&apos;1")), {}, 400,
     "suspicious_filter"),
    ("fe literal quotes (xml)", "POST", "/ows", {"data": GET_FEATURE_XML.format(filter=fes("code", "x' OR 1=1 --")),
                                                "content_type": "text/xml"}, 400, "suspicious_filter"),
    ("wms filter literal", "GET", "/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=hazard_sources&STYLES=&"
     "CRS=EPSG:4326&BBOX=31,118,33,120&WIDTH=10&HEIGHT=10&FORMAT=image/png&FILTER="
     + quote(fes("code", "';--")), {}, 400, "suspicious_filter"),
    ("cql_filter", "GET", wfs(CQL_FILTER="1=1"), {}, 400, "unsupported_filter"),
    ("scope token in query", "GET", wfs(onemap_hazard_sources_all="yes"), {}, 400, "reserved_parameter"),
    ("scope token upper case", "GET", wfs(ONEMAP_HAZARD_SOURCES_DISTRICTS="329903"), {}, 400, "reserved_parameter"),
    ("scope token encoded", "GET", wfs() + "&onemap%5Fhazard%5Fsources%5Fall=yes", {}, 400, "reserved_parameter"),
    ("scope token in form body", "POST", "/ows", {
        "data": "SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=hazard_sources&RESULTTYPE=hits&"
                "onemap_hazard_sources_all=yes", "content_type": "application/x-www-form-urlencoded"}, 400,
     "reserved_parameter"),
    ("mapfile edit", "GET", wfs() + "&map.layer[hazard_sources]=DATA+'x'", {}, 400, "reserved_parameter"),
    ("xml entities", "POST", "/ows", {"data": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM '
                                      '"file:///etc/passwd">]><wfs:GetFeature xmlns:wfs="http://www.opengis.net/'
                                      'wfs/2.0"><wfs:Query typeNames="hazard_sources"/></wfs:GetFeature>',
                                      "content_type": "text/xml"}, 400, "xml_entities"),
    ("kvp and xml together", "POST", wfs(), {"data": GET_FEATURE_XML.format(filter=""), "content_type": "text/xml"},
     400, "mixed_request"),
]


@pytest.mark.parametrize(("label", "method", "path", "kwargs", "status", "event"), ATTACKS,
                         ids=[a[0] for a in ATTACKS])
def test_attacks_on_protected_layers_are_refused_and_audited(world: SimpleNamespace, label: str, method: str,
                                                             path: str, kwargs: dict, status: int, event: str) -> None:
    before = scalar(world, "SELECT count(*) FROM audit.audit_log WHERE action = :a", a=f"access.{event}")
    response = call(world, DR, path, method, **kwargs)
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert [e["event"] for e in world.events] == [event]
    assert scalar(world, "SELECT count(*) FROM audit.audit_log WHERE action = :a", a=f"access.{event}") == before + 1
    assert scalar(world, "SELECT count(*) FROM hazard_sources") > 0  # nothing was dropped


def test_valid_filters_never_widen_the_scope(world: SimpleNamespace) -> None:
    own = scalar(world, "SELECT count(*) FROM hazard_sources WHERE district_code = :d", d=OWN_DISTRICT)
    assert 0 < own < scalar(world, "SELECT count(*) FROM hazard_sources")
    body = call(world, DR, "/ogcapi/collections/hazard_sources/items?f=json&limit=1000&filter="
                + quote(f"district_code = '{FOREIGN_DISTRICT}' OR grade > 0")).get_json()
    assert body["numberMatched"] == own
    assert {f["properties"]["district_code"] for f in body["features"]} == {OWN_DISTRICT}
    assert call(world, DR, f"/ogcapi/collections/hazard_sources/items?f=json&district_code={FOREIGN_DISTRICT}"
                ).get_json()["numberMatched"] == 0
    assert hits(call(world, DR, wfs(FILTER=fes("district_code", FOREIGN_DISTRICT)))) == 0
    either = (f'<fes:Filter xmlns:fes="{FES}"><fes:Or>' + "".join(
        f"<fes:PropertyIsEqualTo><fes:ValueReference>district_code</fes:ValueReference><fes:Literal>{d}"
        "</fes:Literal></fes:PropertyIsEqualTo>" for d in (OWN_DISTRICT, FOREIGN_DISTRICT)) + "</fes:Or></fes:Filter>")
    assert hits(call(world, DR, wfs(FILTER=either))) == own
    assert hits(call(world, DR, wfs("onemap:HAZARD_SOURCES"))) == own  # names are matched like MapServer does
    assert world.events == []


def test_names_that_would_widen_a_request_are_denied(world: SimpleNamespace) -> None:
    # the map's root layer would draw every layer: to the policy it is no layer at all
    for name in ("onemap", "no_such_layer", "hazard_sources,onemap", "ONEMAP"):
        response = call(world, DR, "/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&STYLES=&CRS=EPSG:4326&"
                        f"BBOX=31,118,33,120&WIDTH=10&HEIGHT=10&FORMAT=image/png&LAYERS={name}")
        assert response.status_code == 404, name
        assert etree.QName(etree.fromstring(response.data)).localname == "ServiceExceptionReport"
    assert call(world, "grid_worker", "/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&STYLES=&CRS=EPSG:4326&"
                "BBOX=31,118,33,120&WIDTH=10&HEIGHT=10&FORMAT=image/png&LAYERS=enterprises,experts").status_code == 403
    assert call(world, "anonymous", wfs("Hazard_Sources")).status_code == 401
    for path in ("/ogcapi/collections/hazard_sources/items/1/..", "/ogcapi/collections/hazard_sources%2F..%2Fx",
                 "/ogcapi//collections//hazard_sources//items"):
        assert call(world, "anonymous", path).status_code in (401, 404), path


def test_denials_speak_each_surface_s_dialect(world: SimpleNamespace) -> None:
    # the console API is open to every map user (rows follow each layer's scope); its export is not
    rest = call(world, "anonymous", "/api/console/spatial-query/export", "POST", json={})
    assert (rest.status_code, rest.mimetype) == (401, "application/problem+json")
    assert "WWW-Authenticate" not in rest.headers and rest.get_json()["detail"] == "请先登录"
    forbidden = call(world, "auditor", "/api/console/stats", headers={"Accept-Language": "en"})
    assert forbidden.status_code == 403 and forbidden.get_json()["code"] == "forbidden"
    ogcapi = call(world, "anonymous", "/ogcapi/collections/hazard_sources/items?f=json")
    assert ogcapi.status_code == 401 and ogcapi.get_json()["code"] == "NotAuthorized"
    assert ogcapi.headers["WWW-Authenticate"] == 'Basic realm="OneMap", charset="UTF-8"'
    for path, root in (("/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=sensors&FORMAT=image/png"
                        "&SLD_VERSION=1.1.0", "ServiceExceptionReport"), (wfs("sensors"), "ExceptionReport")):
        response = call(world, "anonymous", path)
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
        assert etree.QName(etree.fromstring(response.data)).localname == root
    tile = "/tiles/wmts/hazard_sources/webmercator/12/3401/1650.png"
    assert call(world, "anonymous", tile).status_code == 401
    assert call(world, "anonymous", tile).headers["WWW-Authenticate"].startswith("Basic")
    assert call(world, "enterprise_user", tile).status_code == 403  # enterprise scope: no shared tiles
    assert call(world, "auditor", tile).status_code == 403


def test_denials_and_exports_reach_the_audit_log(world: SimpleNamespace) -> None:
    denied = "SELECT count(*) FROM audit.audit_log WHERE action = 'access.access_denied' AND username = :u " \
             "AND object_type = 'layer' AND object_id = 'experts' AND outcome = 'denied'"
    before = scalar(world, denied, u="test_grid_worker")
    assert call(world, "grid_worker", "/ogcapi/collections/experts/items?f=json").status_code == 403
    assert scalar(world, denied, u="test_grid_worker") == before + 1
    exports = "SELECT count(*) FROM audit.audit_log WHERE action = 'access.export' AND outcome = 'success' " \
              "AND username = 'test_district_regulator' AND details->>'scope' = 'district 329902'"
    before = scalar(world, exports)
    response = call(world, DR, "/ogcapi/collections/enterprises/items?f=csv&limit=5")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert scalar(world, exports) == before + 1


def test_temporary_grants_open_and_close_with_time(world: SimpleNamespace) -> None:
    now = dt.datetime.now(dt.UTC)
    with world.engine.begin() as conn:
        uid = conn.execute(sa.text("INSERT INTO users (username, display_name, password_hash) VALUES "
                                   "('grant_holder', '临时授权测试', 'x') RETURNING id")).scalar_one()
        for starts, expires in ((now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)),   # in force
                                (now - dt.timedelta(hours=3), now - dt.timedelta(hours=2))):  # expired
            conn.execute(sa.text(
                "INSERT INTO grants (user_id, permission, layer, district_code, starts_at, expires_at, reason) "
                "VALUES (:u, 'layer:read', 'hazard_sources', :d, :s, :e, 'drill')"),
                {"u": uid, "d": FOREIGN_DISTRICT if expires > now else OWN_DISTRICT, "s": starts, "e": expires})
    holder = Identity(user_id=uid, username="grant_holder", roles=frozenset({"intermediary_user"}), method="session")
    foreign, own = world.objects[("hazard_sources", "foreign")], world.objects[("hazard_sources", "own")]

    def get(obj: SimpleNamespace) -> int:
        return world.client.get(f"/ogcapi/collections/hazard_sources/items/{obj.id}?f=json",
                                environ_base={"test.identity": holder}).status_code

    assert (get(foreign), get(own)) == (200, 404)  # the live grant's district only; the expired one adds nothing
    with world.engine.begin() as conn:
        conn.execute(sa.text("UPDATE grants SET expires_at = now() - interval '1 second', "
                             "starts_at = now() - interval '2 hours' WHERE user_id = :u"), {"u": uid})
    assert get(foreign) == 403


def test_services_reached_without_the_gate_serve_no_scoped_data(world: SimpleNamespace) -> None:
    mounts = world.gate.app.mounts
    tiles = Client(mounts["/tiles"]).get("/wmts/basemap/webmercator/12/3401/1650.png")
    assert tiles.status_code == 403  # MapProxy without the authorisation hook is closed, even for the basemap
    ows = Client(mounts["/ows"])
    assert hits(ows.get(wfs()[len("/ows"):])) == 0
    assert hits(ows.get(wfs("hospitals")[len("/ows"):])) == scalar(world, "SELECT count(*) FROM hospitals")
    ogcapi = Client(mounts["/ogcapi"])
    assert ogcapi.get("/collections/hazard_sources/items?f=json").get_json()["numberMatched"] == 0
    assert ogcapi.get("/collections?f=json").get_json()["collections"] == []
    own = world.objects[("enterprises", "own")]
    assert ogcapi.get(f"/collections/enterprises/items/{own.id}?f=json").status_code == 404


def test_mapproxy_clips_a_district_scope_to_its_districts(world: SimpleNamespace) -> None:
    for key, inside in ((("hazard_sources", "own"), True), (("hazard_sources", "foreign"), False)):
        obj = world.objects[key]
        x, y, px, py = xyz(obj.lon, obj.lat, 16)
        path = f"/tiles/wmts/hazard_sources/webmercator/16/{x}/{y}.png"
        assert painted(call(world, "city_regulator", path).data, px, py, 2)
        assert painted(call(world, DR, path).data, px, py, 2) is inside


def test_tile_capabilities_list_only_readable_layers(world: SimpleNamespace) -> None:
    from tests.system.test_permission_matrix import OWN, READ, TILE_LAYERS, visible

    for role in ("anonymous", "district_regulator", "enterprise_user"):
        body = call(world, role, "/tiles/wmts/1.0.0/WMTSCapabilities.xml").data
        listed = {el.text for el in etree.fromstring(body).iter("{http://www.opengis.net/ows/1.1}Identifier")
                  if el.getparent().tag.endswith("}Layer")}
        tiled = visible(role) & TILE_LAYERS
        if role == "enterprise_user":  # an enterprise scope is no area: its scoped layers are not tiled for it
            tiled = {layer for layer in tiled if READ[role].get(layer) != OWN}
        assert listed == tiled | {"basemap"}, role


def test_head_of_capabilities_is_answered(world: SimpleNamespace) -> None:
    response = call(world, DR, "/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities", "HEAD")
    assert response.status_code == 200 and response.data == b""
