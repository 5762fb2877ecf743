"""Support for the layer × protocol × role matrix (tests/system/test_layer_protocol_matrix.py).

* Which protocols each layer is offered on, read from the configurations the generators write: pygeoapi's
  resources (feature and tile providers), the mapfile's ``*_enable_request`` metadata, MapProxy's layers.
* The world: the whole app on a private clone of the demo city, with every demo user signed in for real (password
  and TOTP through the JSON API, once per module: a code is accepted once per 30 s step) who then makes an
  ``ogc:read`` API token, as a QGIS user does, sent as HTTP Basic on every OGC request.
* What each role may see, in SQL written here from the requirement's columns (district code, enterprise USCC),
  never from the scope code under test.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from access.demo import DEMO_PASSWORD, DEMO_USERS
from layers.registry import Layer, default_registry
from tests.conftest import SHARED_SESSION_AUTH, clone_database, drop_database
from tests.integration.auth_support import basic, code
from tests.system.test_permission_matrix import ALL, DISTRICT, OWN, READ

REGISTRY = default_registry()
PROTOCOLS = ("ogcapi_items", "ogcapi_item", "wfs_hits", "wfs_geojson", "wms_getmap", "wms_getfeatureinfo", "tiles_xyz", "wmts_kvp",
             "wmts_capabilities", "tms_capabilities", "mvt")
ROLES = ("anonymous", *(u.role for u in DEMO_USERS))
USERNAMES = {u.role: u.username for u in DEMO_USERS}
# How far (degrees) a hidden test feature lies from every feature the caller may see: farther than any symbol or
# label drawn around those, so that a painted pixel at the hidden one can only be the hidden one.
ISOLATION = 0.01


# -- what the generated configurations offer ----------------------------------------------------------------------
def _enabled(spec: str | None, request: str) -> bool | None:
    """MapServer's ``*_enable_request`` list (``*``, ``!*``, ``Name``, ``!Name``; later entries win)."""
    if spec is None:
        return None
    state = False
    for token in spec.split():
        negate, name = token.startswith("!"), token.lstrip("!")
        if name == "*" or name.lower() == request.lower():
            state = not negate
    return state


def mapfile_requests(mapfile_text: str) -> dict[str, dict[str, bool]]:
    """Layer name → {"GetMap", "GetFeatureInfo", "GetFeature", "GetFeature:geojson"} → enabled? (layer metadata
    first, then WEB)."""
    def metadata(block: str) -> dict[str, str]:
        return dict(re.findall(r'^\s*"(\w+_enable_request|wfs_getfeature_formatlist)"\s+"([^"]*)"', block, re.M))

    web = metadata(mapfile_text.split("\n  WEB\n", 1)[1].split("\n  END\n", 1)[0])
    out: dict[str, dict[str, bool]] = {}
    for block in mapfile_text.split("\n  LAYER\n")[1:]:
        name = re.search(r'^\s*NAME "([^"]+)"', block, re.M)
        if name is None or "CONNECTIONTYPE POSTGIS" not in block:
            continue
        own = metadata(block)
        answers = {}
        for request, service in (("GetMap", "wms"), ("GetFeatureInfo", "wms"), ("GetFeature", "wfs")):
            candidates = [own.get(f"{service}_enable_request"), own.get("ows_enable_request"),
                          web.get(f"{service}_enable_request"), web.get("ows_enable_request")]
            answers[request] = next((v for v in (_enabled(c, request) for c in candidates) if v is not None), False)
        formats = own.get("wfs_getfeature_formatlist") or web.get("wfs_getfeature_formatlist") or ""
        answers["GetFeature:geojson"] = answers["GetFeature"] and "geojson" in formats.split(",")
        out[name.group(1)] = answers
    return out


def offered_protocols(pygeoapi: dict[str, Any], mapfile_text: str, mapproxy: dict[str, Any]) -> dict[str, set[str]]:
    """Layer id → the protocols of :data:`PROTOCOLS` it is offered on, from the three generated configurations."""
    out: dict[str, set[str]] = {layer.id: set() for layer in REGISTRY}
    for name, resource in pygeoapi["resources"].items():
        kinds = {p["type"] for p in resource.get("providers", [])} if resource.get("type") == "collection" else set()
        if name in out and "feature" in kinds:
            out[name] |= {"ogcapi_items", "ogcapi_item"}
        if name in out and "tile" in kinds:
            out[name].add("mvt")
    for name, requests in mapfile_requests(mapfile_text).items():
        if name in out:
            out[name] |= {p for p, r in (("wms_getmap", "GetMap"), ("wms_getfeatureinfo", "GetFeatureInfo"),
                                         ("wfs_hits", "GetFeature"), ("wfs_geojson", "GetFeature:geojson"))
                                  if requests[r]}
    services = mapproxy["services"]
    tiles = {"tiles_xyz": services.get("wmts", {}).get("restful"), "wmts_kvp": services.get("wmts", {}).get("kvp"),
             "wmts_capabilities": "wmts" in services, "tms_capabilities": "tms" in services}
    for layer in mapproxy["layers"]:
        if layer["name"] in out:
            out[layer["name"]] |= {protocol for protocol, offered in tiles.items() if offered}
    return out


@cache
def generated_offer() -> dict[str, frozenset[str]]:
    """The offer of the configurations the generators write for the registry (no database needed)."""
    from mapserver.mapfile import CHINA_EXTENT, render_mapfile
    from mapserver.mapproxy_config import build_mapproxy_config
    from mapserver.pygeoapi_config import build_pygeoapi_config
    from styles import default_styles

    pygeoapi = build_pygeoapi_config(REGISTRY, db_url="postgresql://u:p@localhost/onemap",
                                     public_url="http://testserver", raster=None)
    mapfile = render_mapfile(REGISTRY, default_styles(), "dbname=onemap",
                             extent=CHINA_EXTENT, raster=None, fontset=Path("fonts.list"))
    mapproxy = build_mapproxy_config(REGISTRY, mapfile=Path("onemap.map"), mapserv=Path("mapserv"),
                                     cache_dir=Path("cache"), work_dir=Path("work"))
    return {k: frozenset(v) for k, v in offered_protocols(pygeoapi, mapfile, mapproxy).items()}


def served_offer(settings: dict[str, Any]) -> dict[str, frozenset[str]]:
    """The same, read from the files the running app was built from."""
    import yaml

    from mapserver.build import expected_outputs

    files = expected_outputs(settings)
    pygeoapi = yaml.safe_load(files["pygeoapi.pygeoapi"].read_text(encoding="utf-8"))
    mapproxy = yaml.safe_load(files["mapproxy.mapproxy"].read_text(encoding="utf-8"))
    offer = offered_protocols(pygeoapi, files["mapserver.mapfile"].read_text(encoding="utf-8"), mapproxy)
    return {k: frozenset(v) for k, v in offer.items()}


# -- who may see what: the requirement's table, as SQL ----------------------------------------------------------
def read_scope(role: str, layer: Layer) -> str | None:
    """ALL, DISTRICT, OWN or None (the layer is refused), from the requirement's table."""
    rules = READ.get(role, {})
    return rules.get(layer.id) or rules.get(layer.access)


def enterprise_sql(layer: Layer, alias: str = "t") -> str:
    """Rows of ``layer`` (aliased ``alias``) that belong to enterprise ``:uscc``, by the tables' own columns."""
    if layer.table == "enterprises":
        return f"{alias}.uscc = :uscc"
    if "enterprise_uscc" in layer.field_names:
        return f"{alias}.enterprise_uscc = :uscc"
    for f in layer.fields:  # a reference to a table that itself has the enterprise column (sensors → hazard sources)
        table, _, key = (f.references or "").partition(".")
        target = next((x for x in REGISTRY if x.table == table), None)
        if target is not None and "enterprise_uscc" in target.field_names:
            return f'{alias}."{f.name}" IN (SELECT "{key}" FROM "{table}" WHERE enterprise_uscc = :uscc)'
    return "false"


def scope_sql(scope: str, layer: Layer, alias: str = "t") -> str:
    if scope == ALL:
        return "true"
    if scope == DISTRICT:
        return f"{alias}.district_code = ANY(:districts)" if "district_code" in layer.field_names else "false"
    assert scope == OWN, scope
    return enterprise_sql(layer, alias)


# Where to look for a feature: a point on it (a polygon's boundary, where the outline or the fill's edge is drawn)
# and a point inside it (what a feature-info click hits).
_ANCHOR = "ST_ClosestPoint(CASE WHEN ST_Dimension(t.geom) = 2 THEN ST_Boundary(t.geom) ELSE t.geom END, " \
          "ST_Centroid(t.geom))"
_INNER = "ST_PointOnSurface(t.geom)"


@dataclass(frozen=True)
class Sample:
    id: int
    anchor: tuple[float, float]
    inner: tuple[float, float]


@dataclass(frozen=True)
class Expectation:
    scope: str | None                # None: refused
    count: int = 0                   # rows the role may see
    visible: Sample | None = None    # a row it may see
    hidden: Sample | None = None     # a row it may not see (None with city scope)


def expectation(world: SimpleNamespace, role: str, layer: Layer) -> Expectation:
    key = (role, layer.id)
    if key not in world.expectations:
        world.expectations[key] = _expectation(world, role, layer)
    return world.expectations[key]


def _expectation(world: SimpleNamespace, role: str, layer: Layer) -> Expectation:
    scope = read_scope(role, layer)
    if scope is None:
        return Expectation(None)
    user = world.users.get(role, {})
    params = {"districts": [user["district_code"]] if user.get("district_code") else [],
              "uscc": user.get("enterprise_uscc") or ""}
    inside = scope_sql(scope, layer)
    table, fid = f'"{layer.table}"', f't."{layer.id_field}"'
    cols = f"{fid}, ST_X({_ANCHOR}), ST_Y({_ANCHOR}), ST_X({_INNER}), ST_Y({_INNER})"
    with world.engine.connect() as conn:
        count = conn.execute(sa.text(f"SELECT count(*) FROM {table} t WHERE {inside}"), params).scalar_one()
        row = conn.execute(sa.text(f"SELECT {cols} FROM {table} t WHERE {inside} ORDER BY {fid} LIMIT 1"),
                           params).first()
        hidden = None
        if scope != ALL:
            near = scope_sql(scope, layer, "o")
            hidden = conn.execute(sa.text(
                f"SELECT {cols} FROM {table} t WHERE NOT ({inside}) AND NOT EXISTS (SELECT 1 FROM {table} o "
                f"WHERE ({near}) AND ST_DWithin(o.geom, {_ANCHOR}, {ISOLATION})) ORDER BY {fid} LIMIT 1"),
                params).first()
            assert hidden is not None, f"no isolated row of {layer.id} outside the scope of {role}"
    return Expectation(scope, count, _sample(row), _sample(hidden))


def _sample(row: Any) -> Sample | None:
    return Sample(row[0], (row[1], row[2]), (row[3], row[4])) if row else None


def visible_ids(world: SimpleNamespace, role: str, layer: Layer, ids: list[int]) -> set[int]:
    """Which of ``ids`` the role may see (by the same independent SQL)."""
    exp = expectation(world, role, layer)
    user = world.users.get(role, {})
    params = {"districts": [user["district_code"]] if user.get("district_code") else [],
              "uscc": user.get("enterprise_uscc") or "", "ids": ids}
    with world.engine.connect() as conn:
        rows = conn.execute(sa.text(f'SELECT t."{layer.id_field}" FROM "{layer.table}" t WHERE t."{layer.id_field}" '
                                    f"= ANY(:ids) AND {scope_sql(exp.scope, layer)}"), params).scalars()
        return set(rows)


# -- the world ----------------------------------------------------------------------------------------------------
def _sign_in_and_mint(client: Any, username: str) -> str:
    body = {"username": username, "password": DEMO_PASSWORD}
    if any(u.username == username and u.totp_secret for u in DEMO_USERS):
        body["totp"] = code(username)
    response = client.post("/api/auth/login", json=body)
    assert response.status_code == 200, (username, response.get_json())
    csrf = response.get_json()["csrf_token"]
    minted = client.post("/api/auth/tokens", json={"name": "layer matrix (QGIS)", "scopes": ["ogc:read"], "days": 1},
                         headers={"X-CSRF-Token": csrf})
    assert minted.status_code == 201, (username, minted.get_json())
    return minted.get_json()["token"]


def build_world(pg_cluster: Any, demo_artifacts: Path, tmp_path_factory: Any) -> Iterator[SimpleNamespace]:
    from app import create_app

    name = "t_layer_protocol_matrix"
    url = clone_database(pg_cluster, name)
    var = tmp_path_factory.mktemp("layer-matrix-var")
    (var / "data").mkdir()
    (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    app = create_app({"database": {"url": url}, "paths": {"var": str(var)},
                      "logging": {"level": "WARNING", "format": "json"}, "auth": SHARED_SESSION_AUTH})
    engine = sa.create_engine(url)
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role, username in USERNAMES.items():
        headers[role] = basic(_sign_in_and_mint(app.test_client(), username))
    with engine.connect() as conn:
        users = {r.role: dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT ur.role, u.district_code, u.enterprise_uscc FROM users u JOIN user_roles ur ON "
            "ur.user_id = u.id WHERE u.username = ANY(:names)"),
            {"names": list(USERNAMES.values())})}
    world = SimpleNamespace(app=app, client=app.test_client(), engine=engine, headers=headers, users=users,
                            settings=app.config["ONEMAP"], expectations={}, documents={})
    try:
        yield world
    finally:
        engine.dispose()
        drop_database(pg_cluster, name)
        shutil.rmtree(var / "cache", ignore_errors=True)
