"""The incident's sections in the console's feature panel (emergency/console.py): the 快报/续报 timeline, dispatch
orders with their next status, material requests and the history — in both languages, and never naming a
resource outside the caller's data scope."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from core.identity import Identity
from core.panels import PanelContext, sections_for
from emergency import console
from emergency.events import EVENT_TYPES
from emergency.lifecycles import DISPATCH_LIFECYCLE, INCIDENT_LIFECYCLE
from emergency.models import REPORT_SOURCES, resource_layers
from layers import labels
from layers.registry import default_registry
from tests.integration.emergency_support import make_app, scratch_database, writer_client

DISTRICT = "329902"  # the demo district regulator's
INCIDENTS = "/api/emergency/incidents"


def _one(engine: sa.Engine, sql: str, **params: object) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).one()


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts) -> Iterator[SimpleNamespace]:  # noqa: ANN001
    """An incident in district 329902 with a 续报, a move to verified, a rescue team of another district (en route),
    a fire station (public) and a material request on a depot of another district."""
    with scratch_database(pg_cluster, "em_console") as url:
        client = writer_client(lambda u: make_app(demo_artifacts, u), url)
        engine = sa.create_engine(url)
        lon, lat = _one(engine, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM districts "
                                "WHERE code = :d) s", d=DISTRICT)
        created = client.post(INCIDENTS, json={"kind": "leak", "title": "面板测试：储罐泄漏", "source": "phone",
                                               "reporter": {"name": "王工", "phone": "13800000000"},
                                               "location": {"lon": lon, "lat": lat}})
        assert created.status_code == 201, created.get_json()
        incident = created.get_json()["id"]
        report = client.post(f"{INCIDENTS}/{incident}/reports", json={
            "text": "现场已疏散，1人死亡3人受伤", "casualties": {"deaths": 1, "injuries": 3}, "source": "government"})
        assert report.status_code == 201, report.get_json()
        moved = client.post(f"{INCIDENTS}/{incident}/transitions", json={"to": "verified"})
        assert moved.status_code == 200, moved.get_json()
        team = _one(engine, "SELECT id, name FROM rescue_teams WHERE status = 'standby' AND district_code <> :d "
                            "ORDER BY id LIMIT 1", d=DISTRICT)
        station = _one(engine, "SELECT id, name FROM fire_stations ORDER BY id LIMIT 1")
        orders = []
        for kind, resource in (("rescue_team", team), ("fire_station", station)):
            response = client.post(f"{INCIDENTS}/{incident}/dispatch", json={
                "resource_kind": kind, "resource_id": resource.id, "task": f"{kind} 任务"})
            assert response.status_code == 201, response.get_json()
            orders.append(response.get_json()["id"])
        en_route = client.post(f"/api/emergency/dispatch-orders/{orders[0]}/transitions", json={"to": "en_route"})
        assert en_route.status_code == 200, en_route.get_json()
        depot = _one(engine, "SELECT d.id, d.name, i.item, i.unit FROM depots d JOIN depot_inventory i ON "
                             "i.depot_id = d.id WHERE d.district_code <> :d AND i.quantity >= 2 ORDER BY d.id, i.id "
                             "LIMIT 1", d=DISTRICT)
        drawn = client.post(f"{INCIDENTS}/{incident}/material-requests",
                            json={"depot_id": depot.id, "item": depot.item, "quantity": 1})
        assert drawn.status_code == 201, drawn.get_json()
        yield SimpleNamespace(url=url, engine=engine, client=client, incident=incident, team=team, station=station,
                              depot=depot, orders=orders)
        engine.dispose()


def access_of(role: str, district: str | None = None) -> LayerAccess:
    identity = Identity(user_id=1, username=role, roles=frozenset({role}), district_code=district, method="session")
    return LayerAccess(Authz(load_policy(), identity))


def sections(world: SimpleNamespace, access: LayerAccess, lang: str = "zh-CN",
             incident: int | None = None) -> dict[str, dict]:
    with world.engine.connect() as conn:
        ctx = PanelContext(conn=conn, lang=lang, layer_id="incidents", access=access)
        return {s.section_id: s.provider(incident or world.incident, ctx) for s in sections_for("incidents")}


def test_the_sections_are_declared_for_the_incidents_layer(world: SimpleNamespace) -> None:
    console.register()
    assert [s.section_id for s in sections_for("incidents")] == ["timeline", "dispatch_orders", "material_requests",
                                                                 "tasks", "history"]
    # and they reach the console's feature panel over HTTP
    body = world.client.get(f"/api/console/features/incidents/{world.incident}").get_json()
    by_id = {s["id"]: s for s in body["sections"]}
    assert {"timeline", "dispatch_orders", "material_requests", "tasks", "history"} <= set(by_id), body["sections"]
    assert not any(s.get("error") for s in body["sections"])
    assert by_id["timeline"]["title"] == {"zh-CN": "快报/续报", "en": "Reports"}


def test_timeline_lists_the_first_report_then_the_follow_up(world: SimpleNamespace) -> None:
    rows = sections(world, LayerAccess.unrestricted())["timeline"]["rows"]
    assert [(r["seq"], r["report"]) for r in rows] == [(1, "快报 #1"), (2, "续报 #2")]
    assert rows[0]["source"] == "电话报告 · 王工 13800000000"
    assert rows[1]["text"] == "现场已疏散，1人死亡3人受伤" and rows[1]["casualties"] == "死亡 1，受伤 3"
    english = sections(world, LayerAccess.unrestricted(), "en")["timeline"]["rows"]
    assert [r["report"] for r in english] == ["First report #1", "Follow-up report #2"]
    assert english[1]["source"] == "Government" and english[1]["casualties"] == "Deaths 1, Injured 3"


def test_dispatch_orders_carry_their_status_and_next_move(world: SimpleNamespace) -> None:
    content = sections(world, LayerAccess.unrestricted())["dispatch_orders"]
    team, station = content["rows"]
    assert (team["order_id"], team["resource"], team["resource_layer"], team["resource_id"]) == (
        world.orders[0], world.team.name, "rescue_teams", world.team.id)
    assert (team["status"], team["status_code"], team["next"]) == ("出发途中", "en_route", ["on_scene"])
    assert (station["status"], station["status_code"], station["next"]) == ("已下达", "dispatched", ["en_route"])
    assert station["resource_kind"] == "消防站" and team["resource_kind"] == "救援队伍"
    assert team["eta_min"] is None or team["eta_min"] > 0
    # each row opens its own resource's panel
    assert content["link"] == {"layer_key": "resource_layer", "id_key": "resource_id"}
    english = sections(world, LayerAccess.unrestricted(), "en")["dispatch_orders"]["rows"]
    assert [r["status"] for r in english] == ["En route", "Ordered"]


def test_history_is_newest_first_in_the_ui_language(world: SimpleNamespace) -> None:
    rows = sections(world, LayerAccess.unrestricted())["history"]["rows"]
    assert [r["event"] for r in rows] == ["物资调用", "调度指令状态变更", "下达调度指令", "下达调度指令", "状态变更",
                                          "续报", "接报"]
    assert rows[4]["change"] == "已接报 → 已核实"
    assert rows[1]["change"] == f"#{world.orders[0]} 已下达 → 出发途中"
    assert rows[3]["change"] == f"救援队伍: {world.team.name}"
    english = sections(world, LayerAccess.unrestricted(), "en")["history"]["rows"]
    assert english[4]["change"] == "Reported → Verified" and english[4]["event"] == "Status changed"


def test_tasks_of_an_activated_plan_and_their_timeline_lines(world: SimpleNamespace) -> None:
    """The demo city's 危险化学品事故专项应急预案 activated at Ⅳ (1 death): its two actions are the 处置任务 rows,
    with the owner's name and the due time; one marked done says by whom; the history says what was activated."""
    plan = _one(world.engine, "SELECT id FROM emergency_plans WHERE title = '示范市危险化学品事故专项应急预案'").id
    lon, lat = _one(world.engine, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM "
                                  "districts WHERE code = :d) s", d=DISTRICT)
    created = world.client.post(INCIDENTS, json={"kind": "fire", "title": "面板测试：预案启动",
                                                 "location": {"lon": lon, "lat": lat},
                                                 "casualties": {"deaths": 1}})
    incident = created.get_json()["id"]
    activated = world.client.post(f"{INCIDENTS}/{incident}/plans/{plan}/activate", json={"level": 4})
    assert activated.status_code == 201, activated.get_json()
    first = activated.get_json()["tasks"][0]
    marked = world.client.patch(f"{INCIDENTS}/{incident}/tasks/{first['id']}", json={"done": True})
    assert marked.status_code == 200, marked.get_json()
    got = sections(world, LayerAccess.unrestricted(), incident=incident)
    rows = got["tasks"]["rows"]
    assert [(r["action"], r["owner"], r["done_code"]) for r in rows] == [
        ("核实事故信息，跟踪事态发展", "市应急指挥部办公室", True), ("指导事发单位开展先期处置", "抢险救援组", False)]
    assert rows[0]["state"].startswith("已完成") and rows[0]["state"].endswith("dispatcher")
    assert rows[1]["state"] == "进行中" and rows[0]["task_id"] == first["id"]
    history = got["history"]["rows"]
    assert (history[0]["event"], history[0]["change"]) == ("处置任务完成", "#1 核实事故信息，跟踪事态发展")
    assert history[1]["event"] == "启动应急预案"
    assert history[1]["change"] == "示范市危险化学品事故专项应急预案 v1 · Ⅳ级 · 2 项任务"
    english = sections(world, LayerAccess.unrestricted(), "en", incident=incident)
    assert english["history"]["rows"][1]["event"] == "Plan activated" and english["tasks"]["rows"][1]["state"] == "Open"


def test_a_district_regulator_sees_who_was_sent_but_cannot_open_foreign_resources(world: SimpleNamespace) -> None:
    """The incident is in the regulator's district; the rescue team and the depot are not (internal layers,
    district scope): the orders and requests name them (who is coming is part of the incident), but carry no id
    or link to the foreign records."""
    got = sections(world, access_of("district_regulator", DISTRICT))
    team, station = got["dispatch_orders"]["rows"]
    assert (team["resource"], team["resource_layer"], team["resource_id"]) == (world.team.name, None, None)
    assert team["status_code"] == "en_route"
    assert (station["resource"], station["resource_layer"]) == (world.station.name, "fire_stations")  # public
    request = got["material_requests"]["rows"][0]
    assert (request["depot"], request["depot_id"], request["item"]) == (world.depot.name, None, world.depot.item)
    # the city-wide dispatcher may open them all
    city = sections(world, access_of("dispatcher"))
    assert city["dispatch_orders"]["rows"][0]["resource_id"] is not None
    assert city["material_requests"]["rows"][0]["depot_id"] is not None


def test_a_caller_without_any_scope_gets_no_links(world: SimpleNamespace) -> None:
    got = sections(world, LayerAccess(None))
    assert {r["resource_id"] for r in got["dispatch_orders"]["rows"]} == {None}
    assert {r["depot_id"] for r in got["material_requests"]["rows"]} == {None}


def test_the_console_words_every_emergency_code() -> None:
    """The intake form's choices and the panel's words come from the layer files (``labels``, ``dispatch:``) and
    i18n.ENUM_LABELS: they must cover exactly the codes the emergency module accepts (a new incident kind without
    words would be a bare code on screen)."""
    words = labels.enum_labels("zh-CN")
    assert set(words["incidents.kind"]) == set(default_registry().get("incidents").field("kind").enum)
    assert set(words["report_source"]) == set(REPORT_SOURCES)
    assert set(words["resource_kind"]) == set(resource_layers())
    assert set(words["dispatch_status"]) == set(DISPATCH_LIFECYCLE.states)
    assert words["dispatch_status"] == dict(DISPATCH_LIFECYCLE.labels)
    assert {s: words["incidents.status"][s] for s in INCIDENT_LIFECYCLE.states} == dict(INCIDENT_LIFECYCLE.labels)
    assert set(words["incident_event"]) == {t.removeprefix("incident.") for t in EVENT_TYPES
                                             if t.startswith("incident.")}
    assert set(words["incidents.response_level"]) == {"1", "2", "3", "4"}
