"""Adding a layer on a new table needs no code: one layer file, one style, a generated migration.

In a copy of the layer files and styles (``ONEMAP_LAYERS_DIR``, ``ONEMAP_STYLES_DIR``) a new layer is declared;
``onemap db revision`` writes its migration into ``ONEMAP_MIGRATIONS_DIR`` and ``onemap db migrate`` applies it
(both run as the operator runs them: the real command line, in a process of its own). One row is inserted with
SQL, the app is built, and the layer is then read through every door: OGC API Features items, WFS GetFeature and
WMS GetMap (MapServer), a MapProxy tile, a vector tile, the console catalogue — each by every role, answered as
the policy says for the layer's access level (a role it allows reads the row, any other is refused).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from lxml import etree

import styles
from layers.registry import DEFS_DIR, default_registry
from tests.conftest import SHARED_SESSION_AUTH
from tests.integration.auth_support import basic
from tests.system.layer_matrix_support import USERNAMES, _sign_in_and_mint
from tests.system.test_permission_matrix import ALL, DISTRICT, OWN_DISTRICT, READ, painted, xyz
from tests.unit.test_migration_imports import foreign_imports

NEW_ID = "fuel_stations"
ACCESS = "internal"
NEW_LAYER = f"""id: {NEW_ID}
title: {{zh-CN: 加油加气站, en: Fuel stations}}
table: {NEW_ID}
geometry: Point
group: supervised
access: {ACCESS}
style: {NEW_ID}
zoom: {{min: 0, max: 20}}
searchable: [name]
tiles: {{mvt: true, raster: true}}
console: {{visible: true, query: true}}
fields:
  - {{name: name, type: string, length: 100, label: 名称, label_en: Name, required: true}}
  - {{name: fuel, type: string, length: 10, label: 油品, label_en: Fuel, required: true, enum: [petrol, lpg],
     labels: {{petrol: [汽油, Petrol], lpg: [液化石油气, LPG]}}}}
  - {{name: tank_m3, type: float, label: 储罐容积(立方米), label_en: Tank volume (m³), min: 0}}
  - {{name: district_code, type: string, length: 6, label: 所属区县, label_en: District, required: true,
     references: districts.code}}
"""
NEW_STYLE = f"""id: {NEW_ID}
title: {{zh-CN: 加油加气站, en: Fuel stations}}
geometry: point
classes:
  - name: petrol
    title: {{zh-CN: 加油站, en: Petrol}}
    filter: {{property: fuel, equals: petrol}}
    marker: {{shape: circle, size: 14, fill: "#D84315", stroke: {{colour: "#FFFFFF", width: 1}}}}
  - name: lpg
    title: {{zh-CN: 加气站, en: LPG}}
    marker: {{shape: square, size: 14, fill: "#6A1B9A", stroke: {{colour: "#FFFFFF", width: 1}}}}
"""
ROLES = ("anonymous", *USERNAMES)
ZOOM = 15
HALF = 0.0005  # half the side (degrees) of the WMS window


def _clear_caches() -> None:
    """Everything built from the layer files and styles once per process (a restart, in one process)."""
    from access.authn.api import _policy
    from app.console.catalog import _styles
    from layers.models import metadata
    from mapserver.providers import _links_by_table

    for cached in (default_registry, styles.default_styles, metadata, _styles, _links_by_table, _policy):
        cached.cache_clear()


def onemap(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The ``onemap`` command line in a process of its own, as an operator runs it."""
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def world(pg_cluster: Any, template_url: str, demo_artifacts: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    from tests.conftest import clone_database, drop_database

    tmp = tmp_path_factory.mktemp("new-layer")
    defs, style_dir, versions, var = tmp / "defs", tmp / "styles", tmp / "versions", tmp / "var"
    shutil.copytree(DEFS_DIR, defs)
    style_dir.mkdir()
    for path in styles.STYLES_DIR.glob("*.yaml"):
        shutil.copy(path, style_dir / path.name)
    versions.mkdir()
    (var / "data").mkdir(parents=True)
    (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    (defs / f"{NEW_ID}.yaml").write_text(NEW_LAYER, encoding="utf-8")
    (style_dir / f"{NEW_ID}.yaml").write_text(NEW_STYLE, encoding="utf-8")
    url = clone_database(pg_cluster, "t_new_layer")
    overrides = {"ONEMAP_LAYERS_DIR": str(defs), "ONEMAP_STYLES_DIR": str(style_dir),
                 "ONEMAP_MIGRATIONS_DIR": str(versions)}
    env = {k: v for k, v in os.environ.items() if k not in ("ONEMAP_CONFIG", "PORT")}
    env.update(overrides, DATABASE_URL=url, ONEMAP_VAR=str(var))
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    _clear_caches()
    # loaded now, while the overrides are set: the per-test environment guard (tests/conftest.py) unsets them
    from layers.models import metadata

    assert NEW_ID in default_registry() and styles.default_styles() and metadata() is not None
    engine = sa.create_engine(url)
    try:
        yield SimpleNamespace(env=env, url=url, var=var, versions=versions, engine=engine)
    finally:
        engine.dispose()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _clear_caches()
        drop_database(pg_cluster, "t_new_layer")


@pytest.fixture(scope="module")
def migrated(world: SimpleNamespace) -> SimpleNamespace:
    """``onemap db revision`` then ``onemap db migrate``; one station inserted in the demo's district 329902."""
    wrote = onemap(world.env, "db", "revision", "-m", "fuel stations")
    assert wrote.returncode == 0, wrote.stderr
    files = list(world.versions.glob("*.py"))
    assert len(files) == 1 and f"wrote {files[0]}" in wrote.stdout, (files, wrote.stdout)
    world.revision = files[0].read_text(encoding="utf-8")
    applied = onemap(world.env, "db", "migrate")
    assert applied.returncode == 0, applied.stderr
    with world.engine.begin() as conn:
        world.lon, world.lat = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM districts WHERE code = :d) s"),
            {"d": OWN_DISTRICT}).one()
        world.id = conn.execute(sa.text(
            f"INSERT INTO {NEW_ID} (name, fuel, tank_m3, district_code, geom) VALUES "
            "('示范加油站', 'petrol', 60, :d, ST_SetSRID(ST_MakePoint(:x, :y), 4490)) RETURNING id"),
            {"d": OWN_DISTRICT, "x": world.lon, "y": world.lat}).scalar_one()
    return world


@pytest.fixture(scope="module")
def served(migrated: SimpleNamespace) -> SimpleNamespace:
    """The whole app on the migrated database, with every demo user signed in and holding an ogc:read token."""
    from app import create_app

    world = migrated
    world.app = create_app({"database": {"url": world.url}, "paths": {"var": str(world.var)},
                            "logging": {"level": "WARNING", "format": "json"}, "auth": SHARED_SESSION_AUTH})
    world.clients = {"anonymous": world.app.test_client()}
    world.headers = {"anonymous": {}}
    for role, username in USERNAMES.items():
        world.clients[role] = world.app.test_client()  # keeps the role's session cookie for the console API
        world.headers[role] = basic(_sign_in_and_mint(world.clients[role], username))
    with world.engine.connect() as conn:
        world.districts = dict(conn.execute(sa.text(
            "SELECT ur.role, u.district_code FROM users u JOIN user_roles ur ON ur.user_id = u.id "
            "WHERE u.username = ANY(:n)"), {"n": list(USERNAMES.values())}).all())
    return world


def sees_the_row(world: SimpleNamespace, role: str) -> bool | None:
    """What the requirement says (tests/system/test_permission_matrix.READ by access level): True the row is
    read, False the layer is readable but the row is outside the role's scope, None the layer is refused."""
    scope = READ[role].get(NEW_ID) or READ[role].get(ACCESS)
    if scope is None:
        return None
    assert scope in (ALL, DISTRICT), scope
    return scope == ALL or world.districts.get(role) == OWN_DISTRICT


def test_the_generated_migration_creates_the_table_and_imports_no_application_code(migrated: SimpleNamespace) -> None:
    from layers import migrate

    assert f"op.create_geospatial_table('{NEW_ID}'" in migrated.revision
    assert foreign_imports(migrated.revision) == []
    assert migrate.pending_changes(migrated.engine) == []  # the database now matches the layer files exactly
    again = onemap(migrated.env, "db", "revision", "-m", "nothing")
    assert again.returncode == 1 and "nothing to write" in again.stderr, again.stderr


def _refused(response: Any, role: str) -> None:
    assert response.status_code == (401 if role == "anonymous" else 403), (role, response.status_code,
                                                                         response.data[:300])


@pytest.mark.parametrize("role", ROLES)
def test_ogc_api_items(served: SimpleNamespace, role: str) -> None:
    response = served.clients[role].get(f"/ogcapi/collections/{NEW_ID}/items?f=json", headers=served.headers[role])
    expected = sees_the_row(served, role)
    if expected is None:
        return _refused(response, role)
    assert response.status_code == 200, response.data[:300]
    features = response.get_json()["features"]
    assert [(f["id"], f["properties"]["name"]) for f in features] == ([(served.id, "示范加油站")] if expected else [])


@pytest.mark.parametrize("role", ROLES)
def test_wfs_getfeature(served: SimpleNamespace, role: str) -> None:
    response = served.clients[role].get("/ows?" + urlencode({
        "SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": NEW_ID,
        "OUTPUTFORMAT": "geojson"}), headers=served.headers[role])
    expected = sees_the_row(served, role)
    if expected is None:
        return _refused(response, role)
    assert response.status_code == 200, response.data[:300]
    features = response.get_json(force=True)["features"]
    assert [f["properties"]["name"] for f in features] == (["示范加油站"] if expected else [])


@pytest.mark.parametrize("role", ROLES)
def test_wms_getmap(served: SimpleNamespace, role: str) -> None:
    lon, lat = served.lon, served.lat
    response = served.clients[role].get("/ows?" + urlencode({
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": NEW_ID, "STYLES": "", "CRS": "EPSG:4326",
        "BBOX": f"{lat - HALF},{lon - HALF},{lat + HALF},{lon + HALF}", "WIDTH": "64", "HEIGHT": "64",
        "FORMAT": "image/png", "TRANSPARENT": "TRUE"}), headers=served.headers[role])
    expected = sees_the_row(served, role)
    if expected is None:
        return _refused(response, role)
    assert response.status_code == 200 and response.mimetype == "image/png", response.data[:300]
    assert painted(response.data, 32, 32, 2) is expected


@pytest.mark.parametrize("role", ROLES)
def test_mapproxy_tile(served: SimpleNamespace, role: str) -> None:
    x, y, px, py = xyz(served.lon, served.lat, ZOOM)
    response = served.clients[role].get(f"/tiles/wmts/{NEW_ID}/webmercator/{ZOOM}/{x}/{y}.png",
                                        headers=served.headers[role])
    expected = sees_the_row(served, role)
    if expected is None:
        return _refused(response, role)
    assert response.status_code == 200, response.data[:300]
    assert painted(response.data, px, py, 2) is expected


@pytest.mark.parametrize("role", ROLES)
def test_vector_tile(served: SimpleNamespace, role: str) -> None:
    x, y, _, _ = xyz(served.lon, served.lat, ZOOM)
    response = served.clients[role].get(f"/ogcapi/collections/{NEW_ID}/tiles/WebMercatorQuad/{ZOOM}/{y}/{x}?f=mvt",
                                        headers=served.headers[role])
    expected = sees_the_row(served, role)
    if expected is None:
        return _refused(response, role)
    assert response.status_code in (200, 204), response.data[:300]
    names = [] if response.status_code == 204 else [
        f["properties"]["name"] for layer in mapbox_vector_tile.decode(response.data).values()
        for f in layer["features"]]
    assert names == (["示范加油站"] if expected else [])


@pytest.mark.parametrize("role", ROLES)
def test_console_catalogue_and_panel(served: SimpleNamespace, role: str) -> None:
    client = served.clients[role]
    catalogue = client.get("/api/console/layers")
    if catalogue.status_code != 200:  # roles without a map (auditor, administrators) have no console at all
        assert READ[role].get(ACCESS) is None, (role, catalogue.status_code)
        return _refused(catalogue, role)
    entries = {e["id"]: e for g in catalogue.get_json()["groups"] for e in g["layers"]}
    expected = sees_the_row(served, role)
    if expected is None:
        assert NEW_ID not in entries
        return None
    entry = entries[NEW_ID]
    assert entry["title"] == {"zh-CN": "加油加气站", "en": "Fuel stations"}
    assert (entry["render"], entry["visible"], entry["query"], entry["live"]) == ("mvt", True, True, False)
    # the identify panel words a coded value with the layer file's labels
    panel = client.get(f"/api/console/features/{NEW_ID}/{served.id}?lang=en")
    if not expected:
        assert panel.status_code == 404, panel.data[:300]
        return None
    assert panel.status_code == 200, panel.data[:300]
    fuel = next(a for a in panel.get_json()["attributes"] if a["name"] == "fuel")
    assert (fuel["value"], fuel["text"]) == ("petrol", "Petrol")
    return None


def test_the_wfs_capabilities_name_the_layer(served: SimpleNamespace) -> None:
    caps = served.clients["dispatcher"].get("/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities",
                                            headers=served.headers["dispatcher"])
    names = {el.text.split(":")[-1] for el in etree.fromstring(caps.data).iter("{*}Name")}
    assert NEW_ID in names
