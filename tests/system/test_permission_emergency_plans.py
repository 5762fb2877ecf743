"""Every role × emergency plans (应急预案) of the own district, a foreign district, the own enterprise and the city,
and × activation on incidents of the own and a foreign district, on the whole WSGI app behind the policy gate.

The expectations, from the requirement: the city regulator keeps every plan; the dispatcher reads every plan and
keeps none; a district regulator reads the city's plans and its own district's, keeps its district's, and neither
sees nor activates another district's (404); an enterprise user sees and keeps only its own enterprise's plans and
nothing of the command module; every other role is refused (401 anonymous / 403). Activation is a change of the
incident: who may change the incident (test_permission_emergency's table) and read the plan may activate it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from emergency.incidents.service import intake
from emergency.plans.demo import district_plan, enterprise_plan
from emergency.plans.service import get_plan, insert_plan
from tests.system.test_permission_emergency import check, writing
from tests.system.test_permission_matrix import FOREIGN_DISTRICT, OWN_DISTRICT, ROLES, build_world, call

API = "/api/emergency"
UNRESTRICTED = LayerAccess.unrestricted()
PLANS = ["city", "own", "foreign", "enterprise"]  # whose plan


def plan_reading(role: str, whose: str) -> str:
    if role in ("city_regulator", "dispatcher"):
        return "ok"
    if role == "district_regulator":
        return "ok" if whose in ("city", "own", "enterprise") else "hidden"  # the enterprise is in the own district
    if role == "enterprise_user":
        return "ok" if whose == "enterprise" else "hidden"
    return "denied"


def plan_writing(role: str, whose: str) -> str:
    if role == "dispatcher":
        return "denied"  # reads only: the gate refuses the write
    seen = plan_reading(role, whose)
    if seen != "ok" or role == "city_regulator":
        return seen
    return "forbidden" if whose == "city" else "ok"


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    worlds = build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_permission_plans")
    world = next(worlds)
    with world.engine.begin() as conn:
        district = conn.execute(sa.text("SELECT district_code, name FROM enterprises WHERE uscc = :u"),
                                {"u": world.own_uscc}).one()
        assert district.district_code == OWN_DISTRICT
        world.plans = {
            "city": conn.execute(sa.text("SELECT min(id) FROM emergency_plans WHERE owner_level = 'city'")).scalar(),
            "own": insert_plan(conn, district_plan(OWN_DISTRICT, "本区", conn), access=UNRESTRICTED, actor="test"),
            "foreign": insert_plan(conn, district_plan(FOREIGN_DISTRICT, "外区", conn), access=UNRESTRICTED,
                                   actor="test"),
            "enterprise": insert_plan(conn, enterprise_plan({"uscc": world.own_uscc, "name": district.name}),
                                      access=UNRESTRICTED, actor="test")}
        world.points = {d: tuple(conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE code = :d) s"),
            {"d": d}).one()) for d in (OWN_DISTRICT, FOREIGN_DISTRICT)}
    with world.engine.connect() as conn:
        world.bodies = {w: get_plan(conn, pid, access=UNRESTRICTED)["body"] for w, pid in world.plans.items()}
    yield world
    next(worlds, None)


def scalar(world: SimpleNamespace, sql: str, **params: Any) -> Any:
    with world.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


ROLE_PLAN = [pytest.param(r, w, id=f"{r}-{w}") for r in ROLES for w in PLANS]


@pytest.mark.parametrize(("role", "whose"), ROLE_PLAN)
def test_plan_reads(world: SimpleNamespace, role: str, whose: str) -> None:
    plan = world.plans[whose]
    want = plan_reading(role, whose)
    for path in (f"/plans/{plan}", f"/plans/{plan}/versions", f"/plans/{plan}/versions/1"):
        check(call(world, role, API + path), role, want)
    listed = call(world, role, f"{API}/plans?limit=1000")
    if check(listed, role, "denied" if want == "denied" else "ok"):
        assert (plan in [p["id"] for p in listed.get_json()["plans"]]) is (want == "ok")


@pytest.mark.parametrize(("role", "whose"), ROLE_PLAN)
def test_plan_changes(world: SimpleNamespace, role: str, whose: str) -> None:
    plan = world.plans[whose]
    before = scalar(world, "SELECT version FROM emergency_plans WHERE id = :p", p=plan)
    body = {**world.bodies[whose], "description": f"修订 {role}"}
    changed = check(call(world, role, f"{API}/plans/{plan}", "PUT", json=body), role, plan_writing(role, whose))
    assert scalar(world, "SELECT version FROM emergency_plans WHERE id = :p", p=plan) == before + (1 if changed else 0)
    if whose == "city":
        return
    title = f"新建 {role} {whose}"
    created = check(call(world, role, f"{API}/plans", "POST", json={**world.bodies[whose], "title": title}), role,
                    "forbidden" if plan_writing(role, whose) == "hidden" else plan_writing(role, whose), ok=201)
    assert scalar(world, "SELECT count(*) FROM emergency_plans WHERE title = :t", t=title) == (1 if created else 0)


ROLE_DISTRICT = [pytest.param(r, d, id=f"{r}-{'own' if d == OWN_DISTRICT else 'foreign'}")
                 for r in ROLES for d in (OWN_DISTRICT, FOREIGN_DISTRICT)]


@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_activation(world: SimpleNamespace, role: str, district: str) -> None:
    """The district's own plan on an incident of that district (a fire with one death: Ⅳ suggested)."""
    lon, lat = world.points[district]
    with world.engine.connect() as conn:
        incident = intake(conn, {"kind": "fire", "title": "权限测试：预案启动", "location": {"lon": lon, "lat": lat},
                                 "casualties": {"deaths": 1}}, access=UNRESTRICTED, actor="test")["id"]
    plan = world.plans["own" if district == OWN_DISTRICT else "foreign"]
    listed = call(world, role, f"{API}/incidents/{incident}/plans")
    want = writing(role, "incidents", district)
    if check(listed, role, "hidden" if want == "forbidden" else want):
        offered = {p["id"]: p for p in listed.get_json()["plans"]}
        assert plan in offered and offered[plan]["suggestion"]["level"] == 4
    response = call(world, role, f"{API}/incidents/{incident}/plans/{plan}/activate", "POST", json={"level": 4})
    done = check(response, role, want, ok=201)
    assert scalar(world, "SELECT count(*) FROM incident_tasks WHERE incident_id = :i", i=incident) == (2 if done else 0)
    tasks = call(world, role, f"{API}/incidents/{incident}/tasks")
    if check(tasks, role, "hidden" if want == "forbidden" else want) and done:
        task = tasks.get_json()["tasks"][0]["id"]
        marked = call(world, role, f"{API}/incidents/{incident}/tasks/{task}", "PATCH", json={"done": True})
        assert marked.status_code == 200 and marked.get_json()["done_by"] == f"test_{role}"
