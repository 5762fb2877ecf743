"""Every role × hazard sources in and out of the caller's scope, on the whole WSGI app behind the policy gate: the
GB 18218 assessment API of the hazard source module and the module's section of the console's feature panel.

The expectation is the requirement of tests/system/test_permission_matrix.py (its READ table): whoever may read a
hazard source on the map may read its assessment, in the same scope — city regulators and dispatchers city-wide,
district regulators in their district, the enterprise user for its own enterprise's sources; every other role is
refused (401 anonymous / 403), and a source outside the scope is 404 like an unknown code. The three sources tried
tell the scopes apart: own district and own enterprise, own district and another enterprise, another district.
When the answer is 200, its numbers are the GB 18218 library's for the inventory on record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from core.identity import ANONYMOUS, ROLES, Identity
from supervision.hazard_sources.gb18218 import assess
from tests.system.test_permission_matrix import OWN_DISTRICT, READ, build_world, expected

pytestmark = pytest.mark.system
ALL_ROLES = ["anonymous", *ROLES]
SOURCES = ["own", "own_district_other_enterprise", "foreign"]
API = "/api/hazard-sources"


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    for world in build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_permission_hazard_sources"):
        own = world.objects[("hazard_sources", "own")]
        foreign = world.objects[("hazard_sources", "foreign")]
        with world.engine.begin() as conn:
            other = _add_neighbour(conn, world.own_uscc, foreign.id)
            world.sources = {
                "own": _source(conn, world.own_uscc, "id = :i", i=own.id),
                "own_district_other_enterprise": _source(conn, world.own_uscc, "code = :c", c=other),
                "foreign": _source(conn, world.own_uscc, "id = :i", i=foreign.id),
            }
        yield world


def _add_neighbour(conn: sa.Connection, own_uscc: str, template_id: int) -> str:
    """A hazard source of another enterprise of the own district (the demo city has one source there), holding the
    template's inventory and graded by the library, so the record agrees with the standard like every demo row."""
    uscc, geom = conn.execute(sa.text(
        "SELECT uscc, geom FROM enterprises WHERE district_code = :d AND uscc <> :u ORDER BY id LIMIT 1"),
        {"d": OWN_DISTRICT, "u": own_uscc}).one()
    template = conn.execute(sa.text("SELECT code, exposed_population FROM hazard_sources WHERE id = :i"),
                            {"i": template_id}).one()
    chemicals = conn.execute(sa.text(
        "SELECT chemical_name, cas, quantity_t, critical_quantity_t FROM hazard_source_chemicals "
        "WHERE hazard_source_code = :c ORDER BY id"), {"c": template.code}).mappings().all()
    graded = assess([{"cas": c["cas"], "quantity_t": c["quantity_t"]} for c in chemicals], template.exposed_population)
    code = f"HS-{OWN_DISTRICT}-9001"
    conn.execute(sa.text(
        "INSERT INTO hazard_sources (code, name, enterprise_uscc, grade, s_value, r_value, exposed_population, "
        "district_code, geom) VALUES (:code, '权限测试储罐区', :u, :g, :s, :r, :p, :d, :geom)"),
        {"code": code, "u": uscc, "g": graded.grade, "s": graded.s, "r": graded.r, "p": template.exposed_population,
         "d": OWN_DISTRICT, "geom": geom})
    for c in chemicals:
        conn.execute(sa.text(
            "INSERT INTO hazard_source_chemicals (hazard_source_code, chemical_name, cas, quantity_t, "
            "critical_quantity_t) VALUES (:code, :chemical_name, :cas, :quantity_t, :critical_quantity_t)"),
            {"code": code, **c})
    return code


def _source(conn: sa.Connection, own_uscc: str, where: str, **params: Any) -> SimpleNamespace:
    """The first hazard source matching ``where``, with its inventory on record (the library's input)."""
    row = conn.execute(sa.text(
        "SELECT id, code, district_code, enterprise_uscc, exposed_population FROM hazard_sources "
        f"WHERE {where} ORDER BY id LIMIT 1"), params).mappings().one()
    chemicals = conn.execute(sa.text(
        "SELECT cas, quantity_t FROM hazard_source_chemicals WHERE hazard_source_code = :c ORDER BY id"),
        {"c": row["code"]}).mappings().all()
    return SimpleNamespace(layer="hazard_sources", id=row["id"], code=row["code"], district=row["district_code"],
                           uscc=row["enterprise_uscc"], own_uscc=own_uscc, population=row["exposed_population"],
                           chemicals=[{"cas": c["cas"], "quantity_t": c["quantity_t"]} for c in chemicals])


def identity(role: str, world: SimpleNamespace) -> Identity:
    if role == "anonymous":
        return ANONYMOUS
    return Identity(user_id=2000 + ALL_ROLES.index(role), username=f"test_{role}", roles=frozenset({role}),
                    district_code=OWN_DISTRICT if role in ("district_regulator", "grid_worker") else None,
                    enterprise_uscc=world.own_uscc if role == "enterprise_user" else None, method="session")


def call(world: SimpleNamespace, role: str, path: str, **kw: Any) -> Any:
    return world.client.get(path, environ_base={"test.identity": identity(role, world)}, **kw)


def status_for(role: str, want: str) -> int:
    return {"denied": 401 if role == "anonymous" else 403, "hidden": 404, "ok": 200}[want]


def test_the_sources_tell_the_scopes_apart(world: SimpleNamespace) -> None:
    own, other, foreign = (world.sources[k] for k in SOURCES)
    assert own.district == other.district == OWN_DISTRICT != foreign.district
    assert own.uscc == world.own_uscc and world.own_uscc not in (other.uscc, foreign.uscc)
    assert all(s.chemicals for s in world.sources.values())


@pytest.mark.parametrize("which", SOURCES)
@pytest.mark.parametrize("role", ALL_ROLES)
def test_assessment_follows_the_read_scope_and_equals_the_library(world: SimpleNamespace, role: str,
                                                                  which: str) -> None:
    src = world.sources[which]
    want = expected(READ, role, "hazard_sources", src)
    response = call(world, role, f"{API}/{src.code}/assessment")
    assert response.status_code == status_for(role, want), (want, response.status_code, response.data[:300])
    body = response.get_json()
    if want != "ok":
        assert body["status"] == response.status_code and "assessment" not in body
        if want == "hidden":  # exactly like an unknown code
            missing = call(world, role, f"{API}/HS-000000-0000/assessment").get_json()
            assert (body["code"], missing["code"]) == ("not_found", "not_found")
        return
    library = assess(src.chemicals, src.population)
    got = body["assessment"]
    assert (got["s"], got["r"], got["alpha"], got["grade"]) == (library.s, library.r, library.alpha, library.grade)
    assert [(c["table1_no"], c["ratio"], c["beta"]) for c in got["chemicals"]] == \
        [(c.table1_no, c.ratio, c.beta) for c in library.chemicals]
    assert body["code"] == src.code and body["differences"] == []


@pytest.mark.parametrize("which", SOURCES)
@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_console_panel_shows_the_modules_chemicals_section(world: SimpleNamespace, role: str, which: str) -> None:
    src = world.sources[which]
    want = expected(READ, role, "hazard_sources", src)
    response = call(world, role, f"/api/console/features/hazard_sources/{src.id}")
    assert response.status_code == status_for(role, want), (want, response.status_code, response.data[:300])
    if want != "ok":
        return
    section = next(s for s in response.get_json()["sections"] if s["id"] == "chemicals")
    assert section["title"] == {"zh-CN": "危险化学品", "en": "Chemicals"} and not section.get("error")
    rows = section["content"]["rows"]
    library = assess(src.chemicals, src.population)
    assert sorted((r["cas"], r["quantity_t"]) for r in rows) == sorted((c["cas"], c["quantity_t"]) for c in src.chemicals)
    assert sorted(r["q_over_q"] for r in rows) == sorted(round(c.ratio, 3) for c in library.chemicals)


@pytest.mark.parametrize(("path", "query", "status", "name"), [
    ("HS-329902-0001-TOO-LONG", {}, 400, "code"),
    ("HS%20329902", {}, 400, "code"),
    ("{code}", {"exposed_population": "many"}, 400, "exposed_population"),
    ("{code}", {"exposed_population": "10000001"}, 400, "exposed_population"),
    ("{code}", {"bbox": "1,2,3,4"}, 400, "bbox"),
    ("HS-000000-0000", {}, 404, None),
])
def test_bad_input_is_a_precise_problem(world: SimpleNamespace, path: str, query: dict[str, str], status: int,
                                        name: str | None) -> None:
    code = path.format(code=world.sources["own"].code)
    response = call(world, "city_regulator", f"{API}/{code}/assessment", query_string=query)
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body.get("input") == name and body["detail"]
    if name:
        assert body["allowed"]


def test_what_if_population_regrades_for_a_reader(world: SimpleNamespace) -> None:
    src = world.sources["own"]
    body = call(world, "enterprise_user", f"{API}/{src.code}/assessment",
                query_string={"exposed_population": "150"}).get_json()
    library = assess(src.chemicals, 150)
    assert body["what_if"] is True and body["assessment"]["r"] == library.r
    assert body["recorded"]["exposed_population"] == src.population
