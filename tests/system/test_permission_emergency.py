"""Every role × every emergency endpoint family × objects of the caller's own and of a foreign district, on the whole
WSGI app behind the policy gate (the machinery of test_permission_matrix.py).

The expectations come from the requirement, written below as a table, not from the policy under test: the emergency
module (and its live events) is for city regulators and dispatchers, city-wide, and for district regulators, in
their own district; every other role is refused (401 anonymous / 403). Inside the module an incident, order or
internal resource (rescue team, depot) of another district does not exist for a district regulator: 404 by id,
absent from lists, statistics and nearest-resource answers, never reached by dispatch or material requests, and
never shown on their live stream. Public resources (hospitals) are visible city-wide but changed only in one's own
district (403). Creating anything in another district is 403. No case may succeed where the table says no.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from emergency.impact.service import run_impact
from emergency.incidents.service import intake
from emergency.resources.inventory import add_inventory
from tests.system.test_permission_matrix import (
    FOREIGN_DISTRICT,
    OWN_DISTRICT,
    REGISTRY,
    ROLES,
    build_world,
    call,
)

ALL, DISTRICT = "all", "district"
# Who may use the emergency module, on which rows (the requirement).
EMERGENCY: dict[str, str] = {"city_regulator": ALL, "dispatcher": ALL, "district_regulator": DISTRICT}
API = "/api/emergency"
DISTRICTS = [OWN_DISTRICT, FOREIGN_DISTRICT]
KINDS = {"rescue_team": "rescue_teams", "hospital": "hospitals"}  # an internal and a public kind
ITEM = "权限测试物资"
UNRESTRICTED = LayerAccess.unrestricted()


def reading(role: str, layer: str, district: str) -> str:
    """"ok", "hidden" (like a missing row) or "denied" (the whole module)."""
    scope = EMERGENCY.get(role)
    if scope is None:
        return "denied"
    return "ok" if scope == ALL or district == OWN_DISTRICT or REGISTRY.get(layer).access == "public" else "hidden"


def writing(role: str, layer: str, district: str, *, creating: bool = False) -> str:
    """A change: "ok", "hidden" (cannot see the row: 404), "forbidden" (can see it or is creating it: 403)."""
    scope = EMERGENCY.get(role)
    if scope is None:
        return "denied"
    if scope == ALL or district == OWN_DISTRICT:
        return "ok"
    return "forbidden" if creating or reading(role, layer, district) == "ok" else "hidden"


def check(response: Any, role: str, want: str, ok: int = 200) -> bool:
    """Assert the status the outcome ``want`` calls for; True when the request was to succeed."""
    assert response.status_code < 500, response.data[:300]
    status = {"denied": 401 if role == "anonymous" else 403, "hidden": 404, "forbidden": 403, "ok": ok}[want]
    assert response.status_code == status, (want, response.status_code, response.data[:300])
    return want == "ok"


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    worlds = build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_permission_emergency")
    world = next(worlds)
    world.app.config["ONEMAP"]["realtime"]["keepalive_s"] = 5.0
    with world.engine.connect() as conn:
        world.points = {d: tuple(conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE code = :d) s"),
            {"d": d}).one()) for d in DISTRICTS}
        first = "SELECT min(id) FROM {} WHERE district_code = :d"
        world.teams = {d: conn.execute(sa.text(first.format("rescue_teams") + " AND status = 'standby'"),
                                       {"d": d}).scalar_one() for d in DISTRICTS}
        world.hospitals = {d: conn.execute(sa.text(first.format("hospitals")), {"d": d}).scalar_one()
                           for d in DISTRICTS}
        world.depots = {d: conn.execute(sa.text(first.format("depots")), {"d": d}).scalar_one() for d in DISTRICTS}
        conn.rollback()  # the service opens its own transaction
        for depot in world.depots.values():
            add_inventory(conn, depot, {"item": ITEM, "unit": "箱", "quantity": 100000}, access=UNRESTRICTED)
    world.incidents = {d: new_incident(world, d) for d in DISTRICTS}
    world.orders = {d: new_order(world, world.incidents[d], world.hospitals[d]) for d in DISTRICTS}
    for d in DISTRICTS:  # run 1 of each incident, by a city-wide service (what other roles then read)
        with world.engine.connect() as conn:
            run_impact(conn, world.incidents[d], {"model": "explosion", "tnt_kg": 200}, access=UNRESTRICTED,
                       raster=world.var / "data" / "population.tif", actor="test")
    yield world
    next(worlds, None)


def new_incident(world: SimpleNamespace, district: str, title: str = "权限测试事件") -> int:
    lon, lat = world.points[district]
    with world.engine.connect() as conn:
        return intake(conn, {"kind": "fire", "title": title, "location": {"lon": lon, "lat": lat}},
                      access=UNRESTRICTED, actor="test")["id"]


def new_order(world: SimpleNamespace, incident: int, hospital: int) -> int:
    """A dispatch order (a hospital: not exclusive) on ``incident``, status dispatched."""
    with world.engine.begin() as conn:
        return conn.execute(sa.text(
            "INSERT INTO dispatch_orders (incident_id, resource_kind, resource_id, task, status) VALUES "
            "(:i, 'hospital', :r, '权限测试', 'dispatched') RETURNING id"), {"i": incident, "r": hospital}).scalar_one()


def scalar(world: SimpleNamespace, sql: str, **params: Any) -> Any:
    with world.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


ROLE_DISTRICT = [pytest.param(r, d, id=f"{r}-{'own' if d == OWN_DISTRICT else 'foreign'}")
                 for r in ROLES for d in DISTRICTS]


# -- incidents ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_incident_reads(world: SimpleNamespace, role: str, district: str) -> None:
    incident, order = world.incidents[district], world.orders[district]
    want = reading(role, "incidents", district)
    for path in (f"/incidents/{incident}", f"/incidents/{incident}/history", f"/incidents/{incident}/dispatch",
                 f"/incidents/{incident}/material-requests", f"/dispatch-orders/{order}",
                 f"/incidents/{incident}/impact", f"/incidents/{incident}/impact/1",
                 f"/incidents/{incident}/plans", f"/incidents/{incident}/tasks",
                 f"/nearest-resources?incident_id={incident}&kinds=hospital&limit=1",
                 f"/isochrones?incident_id={incident}&minutes=1"):
        response = call(world, role, API + path)
        if response.status_code == 422:  # isochrones / nearest: the point is off the road network, but was found
            assert want == "ok"
            continue
        check(response, role, want)
    listed = call(world, role, f"{API}/incidents?district_code={district}&limit=1000")
    if check(listed, role, "denied" if want == "denied" else "ok"):
        ids = [f["id"] for f in listed.get_json()["features"]]
        assert (incident in ids) is (want == "ok")
        if want == "hidden":
            assert listed.get_json()["numberMatched"] == 0
    everything = call(world, role, f"{API}/incidents?limit=1000")
    if want != "denied":
        districts = {f["properties"]["district_code"] for f in everything.get_json()["features"]}
        assert districts <= ({OWN_DISTRICT} if EMERGENCY[role] == DISTRICT else districts)


@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_incident_changes(world: SimpleNamespace, role: str, district: str) -> None:
    want = writing(role, "incidents", district)
    incident = new_incident(world, district)
    patched = call(world, role, f"{API}/incidents/{incident}", "PATCH", json={"description": f"改于 {role}"})
    changed = check(patched, role, want)
    assert (scalar(world, "SELECT description FROM incidents WHERE id = :i", i=incident) == f"改于 {role}") is changed
    report = call(world, role, f"{API}/incidents/{incident}/reports", "POST", json={"text": "续报：火势减弱"})
    check(report, role, want, ok=201)
    assert scalar(world, "SELECT count(*) FROM incident_reports WHERE incident_id = :i", i=incident) == \
        (2 if changed else 1)
    moved = call(world, role, f"{API}/incidents/{incident}/transitions", "POST", json={"to": "verified"})
    check(moved, role, want)
    assert scalar(world, "SELECT status FROM incidents WHERE id = :i", i=incident) == \
        ("verified" if changed else "reported")
    order = new_order(world, incident, world.hospitals[district])
    response = call(world, role, f"{API}/dispatch-orders/{order}/transitions", "POST", json={"to": "en_route"})
    done = check(response, role, want)
    assert scalar(world, "SELECT status FROM dispatch_orders WHERE id = :o", o=order) == \
        ("en_route" if done else "dispatched")


@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_incident_intake(world: SimpleNamespace, role: str, district: str) -> None:
    title = f"接报测试 {role} {district}"
    lon, lat = world.points[district]
    response = call(world, role, f"{API}/incidents", "POST",
                    json={"kind": "leak", "title": title, "location": {"lon": lon, "lat": lat}})
    created = check(response, role, writing(role, "incidents", district, creating=True), ok=201)
    assert scalar(world, "SELECT count(*) FROM incidents WHERE title = :t", t=title) == (1 if created else 0)
    if not created and response.status_code == 403 and role in EMERGENCY:
        assert district in response.get_json()["detail"]  # says which district is not theirs


# -- impact analysis ------------------------------------------------------------------------------------------------
COVERAGE_READERS = {"city_regulator", "dispatcher"}  # the population raster is city-wide data


@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_impact_runs(world: SimpleNamespace, role: str, district: str) -> None:
    """Running an analysis is a change of the incident; its population figures (and the evacuation built on them)
    reach only readers of the population coverage; what a run lists is cut to the reader's scope."""
    incident = new_incident(world, district)
    before = scalar(world, "SELECT count(*) FROM impact_runs WHERE incident_id = :i", i=incident)
    response = call(world, role, f"{API}/incidents/{incident}/impact", "POST", json={"model": "explosion", "tnt_kg": 100})
    created = check(response, role, writing(role, "incidents", district), ok=201)
    assert scalar(world, "SELECT count(*) FROM impact_runs WHERE incident_id = :i", i=incident) == \
        before + (1 if created else 0)
    seeded = call(world, role, f"{API}/incidents/{world.incidents[district]}/impact/1")
    if not check(seeded, role, reading(role, "incidents", district)):
        return
    for run in [seeded.get_json()] + ([response.get_json()] if created else []):
        counted = run["population"] is not None
        assert counted is (role in COVERAGE_READERS)
        assert ("assignments" in run["evacuation"]) is counted
        for zone in run["zones"]["features"]:
            assert ("population" in zone["properties"]) is counted
            for layer, found in zone["properties"]["inside"].items():
                if EMERGENCY[role] == DISTRICT and REGISTRY.get(layer).access != "public":
                    assert {i["district_code"] for i in found["items"]} <= {OWN_DISTRICT}, layer


def test_a_run_lists_to_each_reader_only_the_rows_they_may_read(world: SimpleNamespace) -> None:
    """A plume blown from the own district into the foreign one, analysed city-wide: the dispatcher sees the
    enterprises of both districts, the district regulator the own district's of them and none other."""
    import math

    (x0, y0), (x1, y1) = world.points[OWN_DISTRICT], world.points[FOREIGN_DISTRICT]
    towards = math.degrees(math.atan2((x1 - x0) * math.cos(math.radians(y0)), y1 - y0)) % 360
    incident = new_incident(world, OWN_DISTRICT, "跨区扩散")
    with world.engine.connect() as conn:
        run = run_impact(conn, incident, {"model": "plume", "chemical": "chlorine", "release_rate_g_s": 20000,
                                          "wind_speed_m_s": 1.5, "wind_from_deg": (towards + 180) % 360,
                                          "stability": "F", "evacuate": False},
                         access=UNRESTRICTED, raster=world.var / "data" / "population.tif", actor="test")["run"]
    seen = {}
    for role in ("dispatcher", "district_regulator"):
        response = call(world, role, f"{API}/incidents/{incident}/impact/{run}")
        assert response.status_code == 200, response.data[:300]
        seen[role] = [(z["id"], i["id"], i["district_code"]) for z in response.get_json()["zones"]["features"]
                      for i in z["properties"]["inside"]["enterprises"]["items"]]
    assert {d for _, _, d in seen["dispatcher"]} >= {OWN_DISTRICT, FOREIGN_DISTRICT}  # the case is not trivial
    assert seen["district_regulator"] == [i for i in seen["dispatcher"] if i[2] == OWN_DISTRICT]


# -- resources ------------------------------------------------------------------------------------------------------
def resource_of(world: SimpleNamespace, kind: str, district: str) -> int:
    return (world.teams if kind == "rescue_team" else world.hospitals)[district]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_resource_reads(world: SimpleNamespace, role: str, district: str, kind: str) -> None:
    rid = resource_of(world, kind, district)
    want = reading(role, KINDS[kind], district)
    if check(call(world, role, f"{API}/resources/{kind}/{rid}"), role, want):
        assert call(world, role, f"{API}/resources/{kind}/{rid}").get_json()["id"] == rid
    listed = call(world, role, f"{API}/resources/{kind}?district_code={district}&limit=1000")
    if check(listed, role, "denied" if want == "denied" else "ok"):
        body = listed.get_json()
        assert (rid in [f["id"] for f in body["features"]]) is (want == "ok")
        assert body["numberMatched"] == (scalar(world, f"SELECT count(*) FROM {KINDS[kind]} WHERE district_code = :d",
                                                d=district) if want == "ok" else 0)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_resource_changes(world: SimpleNamespace, role: str, district: str, kind: str) -> None:
    rid, table = resource_of(world, kind, district), KINDS[kind]
    phone = f"0{ROLES.index(role):02d}{len(kind)}1234567"
    response = call(world, role, f"{API}/resources/{kind}/{rid}", "PATCH", json={"phone": phone})
    changed = check(response, role, writing(role, table, district))
    assert (scalar(world, f"SELECT phone FROM {table} WHERE id = :i", i=rid) == phone) is changed
    if EMERGENCY.get(role) == DISTRICT and district == OWN_DISTRICT:  # moving it out of the district is refused
        foreign = world.points[FOREIGN_DISTRICT]
        moved = call(world, role, f"{API}/resources/{kind}/{rid}", "PATCH", json={"lon": foreign[0], "lat": foreign[1]})
        assert moved.status_code == 403, moved.data[:300]
        # a label alone moves nothing: the district is the location's (tests/system/test_permission_resource_districts)
        relabelled = call(world, role, f"{API}/resources/{kind}/{rid}", "PATCH",
                          json={"district_code": FOREIGN_DISTRICT})
        assert relabelled.status_code == 400, relabelled.data[:300]
        assert scalar(world, f"SELECT district_code FROM {table} WHERE id = :i", i=rid) == OWN_DISTRICT
    name = f"新建测试 {role} {district}"
    body = {"name": name, "phone": "02500000000", "lon": world.points[district][0], "lat": world.points[district][1],
            "district_code": district, **({"speciality": "hazchem", "members": 20, "status": "standby"}
                                          if kind == "rescue_team" else {"level": "grade2", "beds": 100})}
    created = check(call(world, role, f"{API}/resources/{kind}", "POST", json=body), role,
                    writing(role, table, district, creating=True), ok=201)
    assert scalar(world, f"SELECT count(*) FROM {table} WHERE name = :n", n=name) == (1 if created else 0)


@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_depot_inventory(world: SimpleNamespace, role: str, district: str) -> None:
    depot = world.depots[district]
    check(call(world, role, f"{API}/resources/depot/{depot}/inventory"), role, reading(role, "depots", district))
    item = f"补库测试 {role} {district}"
    restock = call(world, role, f"{API}/resources/depot/{depot}/inventory", "POST",
                   json={"item": item, "unit": "件", "quantity": 5})
    added = check(restock, role, writing(role, "depots", district), ok=201)
    assert scalar(world, "SELECT count(*) FROM depot_inventory WHERE item = :i", i=item) == (1 if added else 0)


@pytest.mark.parametrize("role", ROLES)
def test_import_is_refused_for_a_row_of_another_district(world: SimpleNamespace, role: str) -> None:
    rows = [["name", "level", "beds", "district_code", "lon", "lat"]]
    for i, d in enumerate(DISTRICTS):
        rows.append([f"导入测试 {role} {i}", "grade2", 50, d, *world.points[d]])
    content = "\n".join(",".join(map(str, r)) for r in rows).encode()
    response = call(world, role, f"{API}/resources/hospital/import", "POST", data=content, content_type="text/csv")
    imported = scalar(world, "SELECT count(*) FROM hospitals WHERE name LIKE :n", n=f"导入测试 {role} %")
    if EMERGENCY.get(role) == DISTRICT:
        assert response.status_code == 400, response.data[:300]
        problems = response.get_json()["problems"]
        assert [(p["row"], p["column"]) for p in problems] == [(3, "district_code")]
        assert FOREIGN_DISTRICT in problems[0]["reason"] and imported == 0
    else:
        check(response, role, "denied" if role not in EMERGENCY else "ok", ok=201)
        assert imported == (2 if role in EMERGENCY else 0)


@pytest.mark.parametrize("role", ROLES)
def test_statistics(world: SimpleNamespace, role: str) -> None:
    response = call(world, role, f"{API}/resources/statistics?kinds=rescue_team,hospital")
    if not check(response, role, "denied" if role not in EMERGENCY else "ok"):
        return
    per = {d["code"]: d["counts"] for d in response.get_json()["districts"]}
    for kind, table in KINDS.items():
        for d in DISTRICTS:
            truth = scalar(world, f"SELECT count(*) FROM {table} WHERE district_code = :d", d=d)
            assert per[d][kind] == (truth if reading(role, table, d) == "ok" else None), (kind, d)
    own_teams = scalar(world, "SELECT count(*) FROM rescue_teams WHERE district_code = :d", d=OWN_DISTRICT)
    all_teams = scalar(world, "SELECT count(*) FROM rescue_teams")
    totals = response.get_json()["totals"]["counts"]
    assert totals["rescue_team"] == (own_teams if EMERGENCY[role] == DISTRICT else all_teams)
    assert totals["hospital"] == scalar(world, "SELECT count(*) FROM hospitals")


# -- routing and dispatch -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_nearest_resources_offer_only_what_the_caller_may_read(world: SimpleNamespace, role: str,
                                                               district: str) -> None:
    lon, lat = scalar(world, "SELECT ST_X(geom) FROM rescue_teams WHERE id = :i", i=world.teams[district]), \
        scalar(world, "SELECT ST_Y(geom) FROM rescue_teams WHERE id = :i", i=world.teams[district])
    response = call(world, role, f"{API}/nearest-resources?lon={lon}&lat={lat}&kinds=rescue_team,hospital&limit=40")
    if not check(response, role, "denied" if role not in EMERGENCY else "ok"):
        return
    offered = [(r["kind"], r["id"]) for r in response.get_json()["resources"]]
    assert offered
    for kind, rid in offered:
        d = scalar(world, f"SELECT district_code FROM {KINDS[kind]} WHERE id = :i", i=rid)
        assert reading(role, KINDS[kind], d) == "ok", (kind, rid, d)
    assert (("rescue_team", world.teams[district]) in offered) is (reading(role, "rescue_teams", district) == "ok")


DISPATCH_CASES = [pytest.param(r, i, t, id=f"{r}-incident_{i}-resource_{t}") for r in ROLES
                  for i in ("own", "foreign") for t in ("own", "foreign")]


def _district(which: str) -> str:
    return OWN_DISTRICT if which == "own" else FOREIGN_DISTRICT


def _combined(role: str, incident_district: str, layer: str, resource_district: str) -> str:
    """A change of the incident that also uses a resource: the incident first, then the resource (read scope)."""
    want = writing(role, "incidents", incident_district)
    return want if want != "ok" else reading(role, layer, resource_district)


@pytest.mark.parametrize(("role", "incident", "resource"), DISPATCH_CASES)
def test_dispatch(world: SimpleNamespace, role: str, incident: str, resource: str) -> None:
    incident_id, team = new_incident(world, _district(incident)), world.teams[_district(resource)]
    response = call(world, role, f"{API}/incidents/{incident_id}/dispatch", "POST",
                    json={"resource_kind": "rescue_team", "resource_id": team, "task": "权限测试"})
    try:
        sent = check(response, role, _combined(role, _district(incident), "rescue_teams", _district(resource)),
                     ok=201)
        assert scalar(world, "SELECT count(*) FROM dispatch_orders WHERE incident_id = :i", i=incident_id) == \
            (1 if sent else 0)
    finally:
        with world.engine.begin() as conn:  # the team is free again for the next case
            conn.execute(sa.text("DELETE FROM dispatch_orders WHERE incident_id = :i"), {"i": incident_id})
            conn.execute(sa.text("UPDATE rescue_teams SET status = 'standby' WHERE id = :t"), {"t": team})


@pytest.mark.parametrize(("role", "incident", "depot"), DISPATCH_CASES)
def test_material_request(world: SimpleNamespace, role: str, incident: str, depot: str) -> None:
    incident_id = new_incident(world, _district(incident))
    response = call(world, role, f"{API}/incidents/{incident_id}/material-requests", "POST",
                    json={"depot_id": world.depots[_district(depot)], "item": ITEM, "quantity": 1})
    drawn = check(response, role, _combined(role, _district(incident), "depots", _district(depot)), ok=201)
    assert scalar(world, "SELECT count(*) FROM material_requests WHERE incident_id = :i", i=incident_id) == \
        (1 if drawn else 0)


# -- live events ----------------------------------------------------------------------------------------------------
def _next_message(chunks: Iterator[Any]) -> dict[str, Any]:
    while True:
        chunk = next(chunks)
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        if "data: " in text:
            return json.loads(text.split("data: ", 1)[1])


@pytest.mark.parametrize("role", ROLES)
def test_event_stream_shows_only_incidents_in_scope(world: SimpleNamespace, role: str) -> None:
    response = call(world, role, "/api/events/stream", buffered=False)
    if not check(response, role, "denied" if role not in EMERGENCY else "ok"):
        return
    chunks = iter(response.response)
    first_chunk = next(chunks)
    assert ": connected" in (first_chunk.decode() if isinstance(first_chunk, bytes) else first_chunk)
    foreign = new_incident(world, FOREIGN_DISTRICT, "直播测试：外区事件")
    own = new_incident(world, OWN_DISTRICT, "直播测试：本区事件")
    first = _next_message(chunks)
    assert first["type"] == "incident.created"
    assert first["data"]["incident_id"] == (own if EMERGENCY[role] == DISTRICT else foreign)
    assert "scope" not in first  # the tag stays on the server
    response.close()


@pytest.mark.parametrize("role", ROLES)
def test_publishing_to_every_district_needs_a_city_scope(world: SimpleNamespace, role: str) -> None:
    body = {"type": "alarm.raised", "data": {"sensor": "S-1"}}
    response = call(world, role, "/api/events", "POST", json=body)
    check(response, role, "ok" if EMERGENCY.get(role) == ALL else "denied", ok=202)
    if EMERGENCY.get(role) == ALL:  # a scope tag cannot be smuggled in
        tagged = call(world, role, "/api/events", "POST",
                      json={**body, "scope": {"layer": "incidents", "district_code": OWN_DISTRICT}})
        assert tagged.status_code == 400 and tagged.get_json()["input"] == "scope"
