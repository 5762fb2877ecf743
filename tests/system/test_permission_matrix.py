"""Every role × every endpoint family × own/foreign/public objects, on the whole WSGI app behind the policy gate.

The expectations come from two small tables written from the requirement (who reads what, in which scope; who
exports what), not from the policy under test, and the cases are generated from them. The rule checked
everywhere: no unauthorised success; a whole layer the role may not read is 401 (anonymous) / 403; an object
outside the caller's scope behaves exactly like a missing one (404 by id, absent from lists, maps, feature info,
vector tiles); MapProxy tiles are clipped to a district scope and refused to an enterprise scope.

Identities are injected below the authentication middleware by a test-only WSGI wrapper (the middleware would
overwrite them); ``tests/system/test_permission_tokens.py``-style real-credential checks live with the auth side.
"""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from lxml import etree
from PIL import Image
from werkzeug.test import Client

from access.policy.gate import PolicyGate
from core.identity import ANONYMOUS, ENVIRON_KEY, Identity
from layers.registry import default_registry
from tests.conftest import clone_database, drop_database

REGISTRY = default_registry()
OWN_DISTRICT, FOREIGN_DISTRICT = "329902", "329903"
ALL, DISTRICT, OWN = "all", "district", "own"
# Who may read what (by layer id first, then by access level), and in which scope — from the requirement.
READ: dict[str, dict[str, str]] = {
    "anonymous": {"public": ALL},
    "public": {"public": ALL},
    "intermediary_user": {"public": ALL},
    "city_regulator": {"public": ALL, "internal": ALL, "restricted": ALL},
    "dispatcher": {"public": ALL, "internal": ALL, "restricted": ALL},
    "district_regulator": {"public": ALL, "internal": DISTRICT, "restricted": DISTRICT},
    "grid_worker": {"public": ALL, "enterprises": DISTRICT, "grid_cells": DISTRICT, "incidents": DISTRICT,
                    "sensitive_targets": DISTRICT, "hidden_dangers": DISTRICT, "supervised_listings": DISTRICT},
    "enterprise_user": {"public": ALL, "enterprises": OWN, "hazard_sources": OWN, "sensors": OWN, "incidents": OWN,
                        "hidden_dangers": OWN, "supervised_listings": OWN, "video_points": OWN},
    "auditor": {},
    "system_admin": {},
    "security_admin": {},
}
EXPORT: dict[str, dict[str, str]] = {
    "city_regulator": {"public": ALL, "internal": ALL, "restricted": ALL},
    "dispatcher": {"public": ALL, "internal": ALL, "restricted": ALL},
    "district_regulator": {"public": ALL, "internal": DISTRICT, "restricted": DISTRICT},
}
ROLES = list(READ)
# the object families every protocol is tried on: a restricted and an internal layer (own + foreign), a public one
OBJECTS = [("hazard_sources", "own"), ("hazard_sources", "foreign"), ("enterprises", "own"),
           ("enterprises", "foreign"), ("hospitals", "any")]
FAMILIES = ["ogcapi_item", "ogcapi_items", "wfs_by_id", "wfs_resourceid", "wms_getfeatureinfo", "wms_getmap",
            "mvt", "mapproxy", "export_csv"]
MVT_LAYERS = {layer.id for layer in REGISTRY if layer.mvt}
TILE_LAYERS = {layer.id for layer in REGISTRY if layer.raster_tiles}


def identity(role: str, world: SimpleNamespace) -> Identity:
    if role == "anonymous":
        return ANONYMOUS
    return Identity(user_id=1000 + ROLES.index(role), username=f"test_{role}", roles=frozenset({role}),
                    district_code=OWN_DISTRICT if role in ("district_regulator", "grid_worker") else None,
                    enterprise_uscc=world.own_uscc if role == "enterprise_user" else None, method="session")


def expected(table: dict[str, dict[str, str]], role: str, layer: str, obj: SimpleNamespace) -> str:
    """"ok", "hidden" (outside the scope: behaves like a missing object) or "denied" (the whole layer)."""
    rules = table.get(role, {})
    scope = rules.get(layer) or rules.get(REGISTRY.get(layer).access)
    if scope is None:
        return "denied"
    if scope == ALL:
        return "ok"
    if scope == DISTRICT:
        return "ok" if obj.district == OWN_DISTRICT else "hidden"
    return "ok" if obj.uscc == obj.own_uscc else "hidden"


class InjectIdentity:
    """Test-only: stands in for the authentication middleware and hands the gate a given identity."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ[ENVIRON_KEY] = environ.pop("test.identity", ANONYMOUS)
        return self.app(environ, start_response)


def find_gate(app: Any) -> PolicyGate:
    node = app.wsgi_app
    while not isinstance(node, PolicyGate):
        node = node.app
    return node


def _isolated(conn: sa.Connection, table: str, where: str, radius: float = 0.0015) -> SimpleNamespace:
    cols = {"hazard_sources": "t.enterprise_uscc", "enterprises": "t.uscc"}.get(table, "NULL")
    row = conn.execute(sa.text(
        f"SELECT t.id, st_x(t.geom), st_y(t.geom), t.district_code, {cols} FROM {table} t WHERE {where} AND NOT "
        f"EXISTS (SELECT 1 FROM {table} o WHERE o.id <> t.id AND st_dwithin(o.geom, t.geom, {radius})) "
        "ORDER BY t.id LIMIT 1")).one()
    return SimpleNamespace(layer=table, id=row[0], lon=row[1], lat=row[2], district=row[3], uscc=row[4])


def build_world(pg_cluster: Any, demo_artifacts: Path, tmp_path_factory: pytest.TempPathFactory,
                name: str) -> Iterator[SimpleNamespace]:
    """The whole app on a private clone of the demo city (writes allowed), its gate, a spy on its audit records and
    the test objects; shared with tests/system/test_gate_hardening.py."""
    from app import create_app

    url = clone_database(pg_cluster, name)
    var = tmp_path_factory.mktemp(f"{name}-var")
    (var / "data").mkdir()
    (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    app = create_app({"database": {"url": url}, "paths": {"var": str(var)},
                      "logging": {"level": "WARNING", "format": "json"}})
    gate = find_gate(app)
    events: list[dict[str, Any]] = []
    real = gate.recorder

    def recorder(event: str, **kw: Any) -> None:
        events.append({"event": event, **kw})
        real(event, **kw)

    gate.recorder = recorder
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        own_hs = _isolated(conn, "hazard_sources", f"t.district_code = '{OWN_DISTRICT}' AND EXISTS (SELECT 1 "
                           "FROM enterprises e WHERE e.uscc = t.enterprise_uscc AND e.district_code = t.district_code)")
        foreign_hs = _isolated(conn, "hazard_sources", f"t.district_code = '{FOREIGN_DISTRICT}' AND "
                               f"t.enterprise_uscc <> '{own_hs.uscc}'")
        own_ent = _isolated(conn, "enterprises", f"t.uscc = '{own_hs.uscc}'", radius=0.0008)
        foreign_ent = _isolated(conn, "enterprises", f"t.district_code = '{FOREIGN_DISTRICT}'")
        hospital = _isolated(conn, "hospitals", "true")
    objects = {("hazard_sources", "own"): own_hs, ("hazard_sources", "foreign"): foreign_hs,
               ("enterprises", "own"): own_ent, ("enterprises", "foreign"): foreign_ent,
               ("hospitals", "any"): hospital}
    for obj in objects.values():
        obj.own_uscc = own_hs.uscc
    world = SimpleNamespace(app=app, gate=gate, client=Client(InjectIdentity(gate)), events=events, engine=engine,
                            url=url, objects=objects, own_uscc=own_hs.uscc, var=var, tokens=_demo_tokens(app, engine,
                                                                                                         own_hs.uscc))
    yield world
    engine.dispose()
    drop_database(pg_cluster, name)
    shutil.rmtree(var / "cache", ignore_errors=True)


def _demo_tokens(app: Any, engine: sa.Engine, uscc: str) -> dict[str, str]:
    """An ``ogc:read`` API token for the demo account of every role (the demo enterprise user is bound to the
    enterprise of the test objects in this private clone)."""
    from access.authn import tokens
    from access.demo import DEMO_USERS
    from access.settings import settings_of

    out = {}
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET enterprise_uscc = :u WHERE username = 'enterprise'"), {"u": uscc})
        for demo in DEMO_USERS:
            uid = conn.execute(sa.text("SELECT id FROM users WHERE username = :n"), {"n": demo.username}).scalar_one()
            out[demo.role] = tokens.create(conn, settings_of(app.config), uid, "permission matrix", ["ogc:read"])[0]
    return out


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    yield from build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_permission_matrix")


def call(world: SimpleNamespace, role: str, path: str, method: str = "GET", **kw: Any):  # noqa: ANN201
    return world.client.open(path, method=method, environ_base={"test.identity": identity(role, world)}, **kw)


# -- the requests of each family, and how to read "was the object there?" ------------------------------------------
def _box(obj: SimpleNamespace, half: float = 0.0005) -> tuple[float, float, float, float]:
    return obj.lon - half, obj.lat - half, obj.lon + half, obj.lat + half


def _wms(obj: SimpleNamespace, request: str, **extra: str) -> str:
    x0, y0, x1, y1 = _box(obj)
    params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": request, "LAYERS": obj.layer, "STYLES": "",
              "CRS": "EPSG:4326", "BBOX": f"{y0},{x0},{y1},{x1}", "WIDTH": "64", "HEIGHT": "64",
              "FORMAT": "image/png", "TRANSPARENT": "TRUE", **extra}
    return "/ows?" + urlencode(params)


def xyz(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    n = 256 * 2 ** z
    px = (lon + 180) / 360 * n
    py = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int(px // 256), int(py // 256), int(px % 256), int(py % 256)


def painted(png: bytes, x: int, y: int, r: int = 1) -> bool:
    img = Image.open(io.BytesIO(png)).convert("RGBA")
    return any(img.getpixel((min(max(x + dx, 0), img.width - 1), min(max(y + dy, 0), img.height - 1)))[3] > 0
               for dx in range(-r, r + 1) for dy in range(-r, r + 1))


def request_of(family: str, obj: SimpleNamespace) -> tuple[str, Any]:
    """(path, present(response) -> bool) for ``family`` on ``obj``."""
    layer, fid = obj.layer, obj.id
    if family == "ogcapi_item":
        return f"/ogcapi/collections/{layer}/items/{fid}?f=json", lambda r: r.get_json()["id"] == fid
    if family == "ogcapi_items":
        bbox = ",".join(map(str, _box(obj)))
        return (f"/ogcapi/collections/{layer}/items?f=json&limit=100&bbox={bbox}",
                lambda r: fid in [f["id"] for f in r.get_json()["features"]])
    if family == "wfs_by_id":
        return ("/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&STOREDQUERY_ID=urn:ogc:def:query:OGC-WFS::"
                f"GetFeatureById&ID={layer}.{fid}", lambda r: f'gml:id="{layer}.{fid}"'.encode() in r.data)
    if family == "wfs_resourceid":
        return (f"/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&RESOURCEID={layer}.{fid}&OUTPUTFORMAT=geojson",
                lambda r: len(r.get_json()["features"]) == 1)
    if family == "wms_getfeatureinfo":
        path = _wms(obj, "GetFeatureInfo", QUERY_LAYERS=layer, I="32", J="32", INFO_FORMAT="application/vnd.ogc.gml",
                    FEATURE_COUNT="10")
        return path, lambda r: f"<id>{fid}</id>".encode() in r.data
    if family == "wms_getmap":
        return _wms(obj, "GetMap"), lambda r: painted(r.data, 32, 32)
    if family == "mvt":
        x, y, _, _ = xyz(obj.lon, obj.lat, 15)
        return (f"/ogcapi/collections/{layer}/tiles/WebMercatorQuad/15/{y}/{x}?f=mvt",
                lambda r: r.status_code == 200 and fid in [f["id"] for lyr in mapbox_vector_tile.decode(r.data).values()
                                                           for f in lyr["features"]])
    if family == "mapproxy":
        x, y, px, py = xyz(obj.lon, obj.lat, 16)
        return f"/tiles/wmts/{layer}/webmercator/16/{x}/{y}.png", lambda r: painted(r.data, px, py, 2)
    if family == "export_csv":
        bbox = ",".join(map(str, _box(obj)))
        return (f"/ogcapi/collections/{layer}/items?f=csv&limit=100&bbox={bbox}",
                lambda r: any(line.split(",")[0] == str(fid) or f",{fid}," in line
                              for line in r.get_data(as_text=True).splitlines()[1:]))
    raise AssertionError(family)


def applicable(family: str, layer: str) -> bool:
    return (family != "mvt" or layer in MVT_LAYERS) and (family != "mapproxy" or layer in TILE_LAYERS)


def outcome_for(family: str, role: str, obj: SimpleNamespace) -> str:
    if family == "export_csv":
        return expected(EXPORT, role, obj.layer, obj)
    result = expected(READ, role, obj.layer, obj)
    if family == "mapproxy" and result != "denied":
        scope = READ[role].get(obj.layer) or READ[role].get(REGISTRY.get(obj.layer).access)
        if scope == OWN:
            return "denied"  # one shared tile cache cannot be cut to an enterprise: WMS/WFS/OGC API serve those rows
    return result


CASES = [pytest.param(role, family, key, id=f"{role}-{family}-{key[0]}-{key[1]}")
         for role in ROLES for family in FAMILIES for key in OBJECTS if applicable(family, key[0])]


@pytest.mark.parametrize(("role", "family", "key"), CASES)
def test_matrix(world: SimpleNamespace, role: str, family: str, key: tuple[str, str]) -> None:
    obj = world.objects[key]
    path, present = request_of(family, obj)
    response = call(world, role, path)
    want = outcome_for(family, role, obj)
    assert response.status_code < 500, response.data[:300]
    if want == "denied":
        assert response.status_code == (401 if role == "anonymous" else 403), (response.status_code, response.data[:300])
        if role == "anonymous":
            assert response.headers["WWW-Authenticate"].startswith('Basic realm="OneMap"')
        return
    by_id = family in ("ogcapi_item", "wfs_by_id")
    if want == "hidden" and by_id:
        assert response.status_code == 404, (response.status_code, response.data[:300])
        return
    if family == "mvt" and response.status_code == 204:  # an empty tile: nothing there for this caller
        assert want == "hidden"
        return
    assert response.status_code == 200, (response.status_code, response.data[:300])
    assert present(response) is (want == "ok"), (want, response.data[:300])


# -- what each role is shown: capabilities, /collections, DescribeFeatureType -------------------------------------
def visible(role: str) -> set[str]:
    dummy = SimpleNamespace(district=OWN_DISTRICT, uscc="x", own_uscc="x")
    return {layer.id for layer in REGISTRY if expected(READ, role, layer.id, dummy) != "denied"}


def may_read_population(role: str) -> bool:
    return role in ("city_regulator", "dispatcher")


def _local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _names(body: bytes, element: str, child: str) -> set[str]:
    root = etree.fromstring(body)
    out = set()
    for el in root.iter(f"{{*}}{element}", element):
        names = [c.text for c in el if _local(c) == child]
        if names and not any(_local(c) == element for c in el):  # leaf layers, not the root group
            out.add(names[0].rsplit(":", 1)[-1])
    return out


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_shown_exactly_what_it_may_read(world: SimpleNamespace, role: str) -> None:
    requests = {
        "wms": ("/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities", "Layer", "Name"),
        "wms111": ("/ows?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetCapabilities", "Layer", "Name"),
        "wfs110": ("/ows?SERVICE=WFS&VERSION=1.1.0&REQUEST=GetCapabilities", "FeatureType", "Name"),
        "wfs": ("/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities", "FeatureType", "Name"),
        "wcs": ("/ows?SERVICE=WCS&VERSION=2.0.1&REQUEST=GetCapabilities", "CoverageSummary", "CoverageId"),
    }
    layers, population = visible(role), {"population"} if may_read_population(role) else set()
    wanted = {"wms": layers | population, "wms111": layers | population, "wfs": layers, "wfs110": layers,
              "wcs": population}
    for service, (path, element, child) in requests.items():
        response = call(world, role, path)
        if not layers:
            assert response.status_code == (401 if role == "anonymous" else 403), service
            continue
        assert response.status_code == 200, (service, response.data[:300])
        assert _names(response.data, element, child) == wanted[service], service
    collections = call(world, role, "/ogcapi/collections?f=json")
    if layers:
        assert {c["id"] for c in collections.get_json()["collections"]} == layers | population
        # DescribeFeatureType without type names describes only the visible ones
        xsd = call(world, role, "/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=DescribeFeatureType")
        assert xsd.status_code == 200, xsd.data[:300]
        described = {el.get("name") for el in etree.fromstring(xsd.data).iter("{*}element") if el.get("substitutionGroup")}
        assert described == layers
    else:
        assert collections.status_code in (401, 403)


# -- writes: OGC API transactions on the editable incidents layer ---------------------------------------------------
WRITE = {"city_regulator": ALL, "dispatcher": ALL, "district_regulator": DISTRICT}


def _point_in(world: SimpleNamespace, district: str) -> list[float]:
    with world.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                                         "FROM districts WHERE code = :d) s"), {"d": district}).one())


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("district", [OWN_DISTRICT, FOREIGN_DISTRICT])
def test_transactions_follow_role_and_district(world: SimpleNamespace, role: str, district: str) -> None:
    code = f"T{ROLES.index(role):02d}{district}"
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": _point_in(world, district)},
               "properties": {"code": code, "title": "测试事件", "kind": "fire", "status": "reported",
                              "reported_at": "2026-11-28T08:00:00+00:00", "district_code": district}}
    response = call(world, role, "/ogcapi/collections/incidents/items", "POST", json=feature,
                    content_type="application/geo+json")
    scope = WRITE.get(role)
    with world.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM incidents WHERE code = :c"), {"c": code}).scalar_one()
    if scope is None:
        assert response.status_code == (401 if role == "anonymous" else 403)
    elif scope == ALL or district == OWN_DISTRICT:
        assert response.status_code == 201, response.data[:300]
    else:
        assert response.status_code == 403, response.data[:300]
    assert stored == (1 if response.status_code == 201 else 0)


@pytest.mark.parametrize("role", sorted(WRITE))
@pytest.mark.parametrize("label", ["agrees", "disagrees", "absent"])
def test_transactions_take_the_district_from_the_location(world: SimpleNamespace, role: str, label: str) -> None:
    """An incident written through OGC API Features lies in the foreign district; its district_code is derived from
    the location: a label that disagrees is refused (400), a missing one filled in, and the write scope is checked on
    the derived district (a district regulator cannot file it under their own district)."""
    code = f"D{ROLES.index(role):02d}{label[:3]}"
    props = {"code": code, "title": "测试事件", "kind": "fire", "status": "reported",
             "reported_at": "2026-11-28T08:00:00+00:00"}
    if label != "absent":
        props["district_code"] = FOREIGN_DISTRICT if label == "agrees" else OWN_DISTRICT
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": _point_in(world, FOREIGN_DISTRICT)},
               "properties": props}
    response = call(world, role, "/ogcapi/collections/incidents/items", "POST", json=feature,
                    content_type="application/geo+json")
    with world.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT district_code FROM incidents WHERE code = :c"), {"c": code}).all()
    if label == "disagrees":
        assert response.status_code == 400, response.data[:300]
        assert "disagrees with the location" in response.get_data(as_text=True)
    elif WRITE[role] == ALL:
        assert response.status_code == 201, response.data[:300]
        assert stored == [(FOREIGN_DISTRICT,)]
    else:
        assert response.status_code == 403, response.data[:300]
    if response.status_code != 201:
        assert stored == []


@pytest.mark.parametrize("role", ["district_regulator", "city_regulator", "enterprise_user"])
def test_deleting_a_foreign_incident_is_not_found(world: SimpleNamespace, role: str) -> None:
    with world.engine.connect() as conn:
        fid = conn.execute(sa.text("SELECT min(id) FROM incidents WHERE district_code = :d"),
                           {"d": FOREIGN_DISTRICT}).scalar_one()
    response = call(world, role, f"/ogcapi/collections/incidents/items/{fid}", "DELETE")
    with world.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM incidents WHERE id = :i"), {"i": fid}).scalar_one()
    want = {"district_regulator": 404, "city_regulator": 200, "enterprise_user": 403}[role]
    assert response.status_code == want, response.data[:300]
    assert left == (0 if want == 200 else 1)


# -- pages, REST modules, processes, coverages: the gate's answer per role ------------------------------------------
ENDPOINTS = {  # path, method → roles allowed (from the requirement)
    ("/", "GET"): set(ROLES) - {"auditor", "system_admin", "security_admin"},
    ("/screen", "GET"): {"city_regulator", "district_regulator", "dispatcher"},
    ("/api/console/layers", "GET"): set(ROLES) - {"auditor", "system_admin", "security_admin"},
    # every map user may ask for statistics: the figures cover their own data scope (test_permission_console.py)
    ("/api/console/stats", "GET"): set(ROLES) - {"auditor", "system_admin", "security_admin"},
    ("/api/console/spatial-query/export", "POST"): {"city_regulator", "district_regulator", "dispatcher"},
    ("/api/emergency/resources", "GET"): {"city_regulator", "district_regulator", "dispatcher"},
    ("/audit", "GET"): {"auditor"},
    ("/security/users", "GET"): {"security_admin"},
    ("/ogcapi/collections/population/coverage?f=json", "GET"): {"city_regulator", "dispatcher"},
    ("/ogcapi/processes/coordinate-convert/execution", "POST"): {
        "city_regulator", "district_regulator", "dispatcher", "grid_worker", "enterprise_user"},
}
UNKNOWN = [("/api/no-such-module/x", "GET"), ("/no-such-page", "GET"), ("/ogcapi/collections/no_such_layer/items",
           "GET"), ("/ogcapi/processes/no-such-process/execution", "POST"), ("/ogcapi/nothing-here", "GET"),
           ("/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=no_such_layer", "GET")]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "method"), list(ENDPOINTS))
def test_pages_modules_and_processes(world: SimpleNamespace, role: str, path: str, method: str) -> None:
    body = {"inputs": {"x": 119.0, "y": 32.0, "from": "gcj02", "to": "cgcs2000"}} if "execution" in path else {}
    response = call(world, role, path, method, json=body)
    if role in ENDPOINTS[(path, method)]:
        assert response.status_code not in (401, 403), response.data[:300]
    else:
        assert response.status_code == (401 if role == "anonymous" else 403), response.data[:300]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "method"), UNKNOWN)
def test_what_the_policy_does_not_know_is_not_found_for_everybody(world: SimpleNamespace, role: str, path: str,
                                                                  method: str) -> None:
    before = len(world.events)
    assert call(world, role, path, method).status_code == 404
    assert world.events[before]["event"] == "unknown_resource"


# -- the same matrix through the real authentication: demo accounts, API tokens sent as HTTP Basic (what QGIS does) --
TOKEN_FAMILIES = ["ogcapi_item", "wfs_by_id", "wms_getfeatureinfo", "mapproxy", "export_csv"]
TOKEN_CASES = [pytest.param(role, family, key, id=f"{role}-{family}-{key[0]}-{key[1]}")
               for role in ROLES if role != "public" for family in TOKEN_FAMILIES for key in OBJECTS
               if applicable(family, key[0])]


@pytest.mark.parametrize(("role", "family", "key"), TOKEN_CASES)
def test_matrix_with_real_credentials(world: SimpleNamespace, role: str, family: str, key: tuple[str, str]) -> None:
    import base64

    obj = world.objects[key]
    path, present = request_of(family, obj)
    headers = {}
    if role != "anonymous":
        headers["Authorization"] = "Basic " + base64.b64encode(f"qgis:{world.tokens[role]}".encode()).decode()
    response = world.app.test_client().get(path, headers=headers)
    want = "denied" if family == "export_csv" else outcome_for(family, role, obj)  # tokens never export
    if want == "denied":
        assert response.status_code == (401 if role == "anonymous" else 403), (response.status_code, response.data[:300])
    elif want == "hidden" and family in ("ogcapi_item", "wfs_by_id"):
        assert response.status_code == 404, (response.status_code, response.data[:300])
    else:
        assert response.status_code == 200, (response.status_code, response.data[:300])
        assert present(response) is (want == "ok")
