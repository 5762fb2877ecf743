"""The permission matrix, extended to the console's JSON API: every role × console family × own/foreign/public
objects, on the whole WSGI app behind the policy gate.

Families: the feature panel by id, identify, search, spatial query, spatial export (CSV), statistics and the
layer catalogue (with the page boot's ``can`` object). The expectations come from the READ/EXPORT tables of
``tests/system/test_permission_matrix.py`` (the requirement), not from the policy under test. The rules checked:
no unauthorised success; a layer the role may not read, named explicitly, is 401 (anonymous) / 403; a layer
nobody named (search, statistics, catalogue) is silently left out; an object outside the caller's scope
behaves exactly like a missing one (404 by id, absent from lists, counts and exports).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from core.identity import Identity
from tests.system.test_permission_matrix import (
    ALL,
    DISTRICT,
    EXPORT,
    FOREIGN_DISTRICT,
    OBJECTS,
    OWN,
    OWN_DISTRICT,
    READ,
    REGISTRY,
    ROLES,
    WRITE,
    build_world,
    call,
    expected,
    visible,
)

FAMILIES = ["feature", "identify", "search", "spatial_query", "export_csv"]
BY_ID = {"feature"}
NAMED = {"feature", "identify", "spatial_query", "export_csv"}  # the request names the layer explicitly
SEARCH_TERM = {"hazard_sources": "code", "enterprises": "uscc", "hospitals": "name"}
# how a row belongs to an enterprise, for the "own" scope of the layers counted by the statistics
OWN_COLUMN = {"enterprises": "uscc", "hazard_sources": "enterprise_uscc"}
RESOURCES = sorted(layer.id for layer in REGISTRY if layer.group == "resources")


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    for world in build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_permission_console"):
        with world.engine.connect() as conn:
            for obj in world.objects.values():
                column = SEARCH_TERM[obj.layer]
                obj.term = conn.execute(sa.text(f"SELECT {column} FROM {obj.layer} WHERE id = :i"),
                                        {"i": obj.id}).scalar_one()
        yield world


def console_user(role: str) -> bool:
    """Who may use the console at all: every role that may read some layer (the map users)."""
    return bool(READ[role])


def refused(role: str) -> int:
    return 401 if role == "anonymous" else 403


def scope_of(table: dict[str, dict[str, str]], role: str, layer_id: str) -> str | None:
    rules = table.get(role, {})
    return rules.get(layer_id) or rules.get(REGISTRY.get(layer_id).access)


# -- the requests of each family, and how to read "was the object there?" ------------------------------------------
def query_body(obj: SimpleNamespace) -> dict[str, Any]:
    return {"geometry": {"type": "Point", "coordinates": [obj.lon, obj.lat]}, "buffer_m": 20, "layers": [obj.layer]}


def request_of(family: str, obj: SimpleNamespace) -> tuple[str, str, dict[str, Any], Any]:
    """(method, path, keyword arguments, present(response) -> bool) for ``family`` on ``obj``."""
    layer, fid = obj.layer, obj.id
    if family == "feature":
        return "GET", f"/api/console/features/{layer}/{fid}", {}, lambda r: r.get_json()["id"] == fid
    if family == "identify":
        return ("GET", f"/api/console/identify?lon={obj.lon}&lat={obj.lat}&layers={layer}&tolerance_m=20", {},
                lambda r: [layer, fid] in [[f["layer"], f["id"]] for f in r.get_json()["features"]])
    if family == "search":
        return ("GET", "/api/console/search", {"query_string": {"q": obj.term, "limit": 100}},
                lambda r: [layer, fid] in [[x["layer"], x["id"]] for x in r.get_json()["results"]])
    if family == "spatial_query":
        return ("POST", "/api/console/spatial-query", {"json": query_body(obj)},
                lambda r: fid in [f["id"] for lyr in r.get_json()["layers"] if lyr["layer"] == layer
                                  for f in lyr["features"]])
    if family == "export_csv":
        def exported(r: Any) -> bool:
            rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
            return [str(fid)] in [row[1:2] for row in rows]

        return "POST", "/api/console/spatial-query/export?format=csv", {"json": query_body(obj)}, exported
    raise AssertionError(family)


def outcome_for(family: str, role: str, obj: SimpleNamespace) -> str:
    """"ok", "hidden" or "denied"; "absent" where a layer the caller may not read is simply left out."""
    if not console_user(role):
        return "denied"
    if family == "export_csv":
        return expected(EXPORT, role, obj.layer, obj)
    result = expected(READ, role, obj.layer, obj)
    return "absent" if result == "denied" and family not in NAMED else result


CASES = [pytest.param(role, family, key, id=f"{role}-{family}-{key[0]}-{key[1]}")
         for role in ROLES for family in FAMILIES for key in OBJECTS]


@pytest.mark.parametrize(("role", "family", "key"), CASES)
def test_console_matrix(world: SimpleNamespace, role: str, family: str, key: tuple[str, str]) -> None:
    obj = world.objects[key]
    method, path, kw, present = request_of(family, obj)
    response = call(world, role, path, method, **kw)
    want = outcome_for(family, role, obj)
    assert response.status_code < 500, response.data[:300]
    if want == "denied":
        assert response.status_code == refused(role), (response.status_code, response.data[:300])
        return
    if want == "hidden" and family in BY_ID:
        assert response.status_code == 404, (response.status_code, response.data[:300])
        # exactly like a missing id: same problem, same wording
        missing = call(world, role, f"/api/console/features/{obj.layer}/999999999")
        assert response.get_json()["code"] == missing.get_json()["code"] == "not_found"
        return
    assert response.status_code == 200, (response.status_code, response.data[:300])
    assert present(response) is (want == "ok"), (want, response.data[:300])


# -- statistics: counts over the caller's rows, null for layers the caller may not read ----------------------------
def scoped_count(world: SimpleNamespace, role: str, layer_id: str) -> int | None:
    scope = scope_of(READ, role, layer_id)
    where = {None: None, ALL: "true", DISTRICT: f"district_code = '{OWN_DISTRICT}'",
             OWN: f"{OWN_COLUMN.get(layer_id, 'NULL')} = '{world.own_uscc}'"}[scope]
    if where is None:
        return None
    with world.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {layer_id} WHERE {where}")).scalar_one()


def total(figure: dict[str, Any] | None) -> int | None:
    if figure is None:
        return None
    return sum(total(v) if isinstance(v, dict) else v for v in figure.values())


@pytest.mark.parametrize("role", ROLES)
def test_stats_count_only_the_rows_in_scope(world: SimpleNamespace, role: str) -> None:
    response = call(world, role, "/api/console/stats")
    if not console_user(role):
        assert response.status_code == refused(role)
        return
    assert response.status_code == 200, response.data[:300]
    body = response.get_json()
    assert total(body["enterprises_by_risk"]) == total(body["enterprises_by_sector"]) == \
        scoped_count(world, role, "enterprises")
    assert total(body["hazard_sources_by_grade"]) == scoped_count(world, role, "hazard_sources")
    want = {layer: scoped_count(world, role, layer) for layer in RESOURCES}
    assert {r["layer"]: r["count"] for r in body["resources_by_kind"]} == \
        {layer: n for layer, n in want.items() if n is not None}


def test_a_district_regulators_figures_are_their_districts(world: SimpleNamespace) -> None:
    own = call(world, "district_regulator", "/api/console/stats").get_json()
    city = call(world, "city_regulator", "/api/console/stats").get_json()
    assert set(own["enterprises_by_risk"]) == {OWN_DISTRICT} and len(city["enterprises_by_risk"]) > 1
    assert 0 < total(own["hazard_sources_by_grade"]) < total(city["hazard_sources_by_grade"])
    # asked about another district: its restricted and internal rows count zero, its public ones all count
    foreign = call(world, "district_regulator", f"/api/console/stats?district={FOREIGN_DISTRICT}").get_json()
    assert total(foreign["hazard_sources_by_grade"]) == 0 and foreign["enterprises_by_risk"] == {}
    counts = {r["layer"]: r["count"] for r in foreign["resources_by_kind"]}
    with world.engine.connect() as conn:
        hospitals = conn.execute(sa.text("SELECT count(*) FROM hospitals WHERE district_code = :d"),
                                 {"d": FOREIGN_DISTRICT}).scalar_one()
    assert counts["hospitals"] == hospitals > 0 and counts["depots"] == 0


@pytest.mark.parametrize("role", ["city_regulator", "district_regulator", "enterprise_user", "grid_worker", "public"])
def test_enterprise_grades_hold_only_hazard_sources_in_scope(world: SimpleNamespace, role: str) -> None:
    response = call(world, role, "/api/console/enterprise-grades")
    scope = scope_of(READ, role, "hazard_sources")
    if scope is None:
        assert response.status_code == refused(role)
        return
    where = {ALL: "true", DISTRICT: f"district_code = '{OWN_DISTRICT}'",
             OWN: f"enterprise_uscc = '{world.own_uscc}'"}[scope]
    with world.engine.connect() as conn:
        want = dict(conn.execute(sa.text(f"SELECT enterprise_uscc, min(grade) FROM hazard_sources WHERE {where} "
                                         "GROUP BY 1")).all())
    assert response.get_json() == want and want
    assert "private" in response.headers["Cache-Control"]


# -- the catalogue and the page boot: only what the role may read, and what it may do ------------------------------
def boot_of(response: Any) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="onemap-boot">(.*?)</script>',
                      response.get_data(as_text=True), re.S)
    assert match, response.data[:300]
    return json.loads(match.group(1))


def catalogue_ids(catalog: dict[str, Any]) -> set[str]:
    return {layer["id"] for group in catalog["groups"] for layer in group["layers"]}


@pytest.mark.parametrize("role", ROLES)
def test_catalogue_and_boot_list_what_the_role_may_read_and_do(world: SimpleNamespace, role: str) -> None:
    response = call(world, role, "/api/console/layers")
    page = call(world, role, "/?lang=en")
    if not console_user(role):
        assert response.status_code == page.status_code == refused(role)
        return
    assert response.status_code == page.status_code == 200
    readable = visible(role)
    assert catalogue_ids(response.get_json()) == readable | {"basemap"}
    boot = boot_of(page)
    assert catalogue_ids(boot["catalog"]) == readable | {"basemap"}
    can = boot["can"]
    assert set(can) == {"modules", "layers"} and set(can["layers"]) == set(REGISTRY.ids)
    dummy = SimpleNamespace(district=OWN_DISTRICT, uscc="x", own_uscc="x")
    for layer_id, actions in can["layers"].items():
        assert ("read" in actions) is (layer_id in readable), layer_id
        assert ("export" in actions) is (expected(EXPORT, role, layer_id, dummy) != "denied"), layer_id
    assert ("write" in can["layers"]["incidents"]) is (role in WRITE)
    assert "read" in can["modules"]["console"]
    assert ("export" in can["modules"]["console"]) is (role in EXPORT)
    assert all(set(actions) <= {"read", "write", "export", "admin", "execute", "audit"}
               for actions in can["modules"].values())


# -- the feature panel: references and sections follow the scope too -----------------------------------------------
def test_panel_sections_list_only_linked_rows_in_scope(world: SimpleNamespace) -> None:
    ent = world.objects[("enterprises", "own")]
    worker = call(world, "grid_worker", f"/api/console/features/enterprises/{ent.id}").get_json()
    sections = {s["id"]: s for s in worker["sections"]}
    assert "hazard_sources" not in sections  # a grid worker may not read hazard sources: no section at all
    with world.engine.connect() as conn:
        district_of = dict(conn.execute(sa.text("SELECT id, district_code FROM incidents")).all())
    assert {district_of[r["id"]] for r in sections["incidents"]["content"]["rows"]} <= {OWN_DISTRICT}
    owner = call(world, "enterprise_user", f"/api/console/features/enterprises/{ent.id}").get_json()
    hazard = {s["id"]: s for s in owner["sections"]}["hazard_sources"]["content"]["rows"]
    assert world.objects[("hazard_sources", "own")].id in [r["id"] for r in hazard]


def test_a_reference_to_a_feature_outside_the_scope_is_not_resolved(world: SimpleNamespace) -> None:
    """An intermediary with a temporary grant on hazard sources sees them, but not the enterprises they name."""
    now = dt.datetime.now(dt.UTC)
    grant = SimpleNamespace(id=77, role=None, permission="layer:read", layer="hazard_sources", module=None,
                            district_code=None, starts_at=now - dt.timedelta(hours=1),
                            expires_at=now + dt.timedelta(hours=1), revoked_at=None)
    who = Identity(user_id=1077, username="test_granted", roles=frozenset({"intermediary_user"}), method="session",
                   attributes={"grants": [grant]})
    obj = world.objects[("hazard_sources", "foreign")]
    response = world.client.get(f"/api/console/features/hazard_sources/{obj.id}", environ_base={"test.identity": who})
    assert response.status_code == 200, response.data[:300]
    attrs = {a["name"]: a for a in response.get_json()["attributes"]}
    assert attrs["enterprise_uscc"]["value"] == obj.uscc and "ref" not in attrs["enterprise_uscc"]
    assert attrs["district_code"]["ref"]["layer"] == "districts"  # public: resolved for everybody
    dispatcher = call(world, "dispatcher", f"/api/console/features/hazard_sources/{obj.id}").get_json()
    assert {a["name"]: a for a in dispatcher["attributes"]}["enterprise_uscc"]["ref"]["layer"] == "enterprises"


# -- exports are audited with what left ------------------------------------------------------------------------------
def test_a_console_export_is_audited_with_its_layers_rows_and_scope(world: SimpleNamespace) -> None:
    obj = world.objects[("hazard_sources", "own")]
    before = len(world.events)
    response = call(world, "district_regulator", "/api/console/spatial-query/export?format=csv", "POST",
                    json=query_body(obj))
    assert response.status_code == 200
    assert [e["target"] for e in world.events[before:] if e["event"] == "export"] == ["module:console"]
    with world.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT username, object_id, details FROM audit.audit_log WHERE action = "
                                   "'export.features' ORDER BY id DESC LIMIT 1")).one()
    assert row.username == "test_district_regulator" and row.object_id == "hazard_sources"
    assert row.details["rows"] == {"hazard_sources": 1}
    assert row.details["scopes"] == {"hazard_sources": f"district {OWN_DISTRICT}"}
