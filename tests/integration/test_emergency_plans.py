"""Emergency plans (应急预案) and their activation for an incident, through the API on a private demo-city clone.

* the suggested level at the boundaries (29/30 deaths, …) and the trigger named, for real incidents; evacuees
  from the latest impact run, at exactly its persons;
* scope: a district regulator neither sees nor activates another district's plan, an enterprise sees only its
  own, the dispatcher reads but keeps no plan;
* versions: an edit is a new version, an incident keeps (and its tasks come from) the version it activated;
* activation: tasks with due = activation time + limit, on the timeline, the response level raised, the linked
  resources proposed as bodies the dispatch API accepts; a second activation is 409 and writes nothing;
* task progress with who and when, overdue flagged; the review deadline and the overdue list;
* bad bodies: 400 naming the field (``levels[0].triggers[1].min``), nothing written.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from core import clock
from tests.integration.emergency_support import make_app, scalar, scratch_database, writer_client

API = "/api/emergency"
OWN = "329902"  # the demo district regulator's district (access/demo.py)
CHLORINE = "7782-50-5"


@pytest.fixture(scope="module")
def db(pg_cluster, template_url: str) -> Iterator[str]:  # noqa: ANN001
    with scratch_database(pg_cluster, "em_plans") as url:
        yield url


@pytest.fixture(scope="module")
def clients(demo_artifacts, db: str) -> dict[str, Any]:  # noqa: ANN001
    return {user: writer_client(lambda url: make_app(demo_artifacts, url), db, user)
            for user in ("city_reg", "dispatcher", "district_reg", "enterprise")}


@pytest.fixture(scope="module")
def places(db: str) -> dict[str, Any]:
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        point = "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE code = :d) s"
        foreign = conn.execute(sa.text("SELECT min(code) FROM districts WHERE code <> :d"), {"d": OWN}).scalar()
        own_uscc = conn.execute(sa.text("SELECT enterprise_uscc FROM users WHERE username = 'enterprise'")).scalar()
        other_uscc = conn.execute(sa.text("SELECT min(uscc) FROM enterprises WHERE uscc <> :u AND district_code = :d"),
                                  {"u": own_uscc, "d": OWN}).scalar()
        out = {"foreign": foreign, "own_uscc": own_uscc, "other_uscc": other_uscc,
               "points": {d: tuple(conn.execute(sa.text(point), {"d": d}).one()) for d in (OWN, foreign)},
               "team": conn.execute(sa.text("SELECT min(id) FROM rescue_teams WHERE status = 'standby' AND "
                                            "district_code = :d"), {"d": OWN}).scalar(),
               "shelter": conn.execute(sa.text("SELECT min(id) FROM shelters")).scalar()}
    engine.dispose()
    return out


def plan_body(owner: dict[str, Any], *, title: str = "测试专项预案", kinds: list[str] | None = None,
              chemicals: list[str] | None = None, resources: list[dict[str, Any]] | None = None,
              approved_on: str | None = None) -> dict[str, Any]:
    """A plan with the Ⅰ–Ⅳ death / injury thresholds of 《生产安全事故报告和调查处理条例》 第三条."""
    def level(n: int, deaths: int, injuries: int, actions: list[tuple[str, str, int]]) -> dict[str, Any]:
        return {"level": n, "triggers": [{"fact": "deaths", "min": deaths}, {"fact": "injuries", "min": injuries}],
                "actions": [{"action": a, "owner_role": r, "time_limit_min": m} for a, r, m in actions]}

    return {
        "title": title, "kind": "special", "owner": owner,
        "approved_on": approved_on or clock.today().isoformat(),
        "scope": {"incident_kinds": kinds or ["leak", "fire", "explosion"],
                  **({"chemicals": chemicals} if chemicals else {})},
        "organisation": [{"role": "commander", "name": "总指挥", "duties": "指挥"},
                         {"role": "rescue", "name": "抢险救援组", "unit": "消防救援支队", "duties": "抢险"}],
        "levels": [level(1, 30, 100, [("报告省政府", "commander", 30), ("全市力量增援", "rescue", 90)]),
                   level(2, 10, 50, [("总指挥到场", "commander", 60)]),
                   level(3, 3, 10, [("区级指挥到场", "commander", 60), ("救援队出动", "rescue", 20)]),
                   level(4, 1, 1, [("核实信息", "commander", 15)])],
        "resources": resources or [],
    }


def create(client: Any, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post(f"{API}/plans", json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def incident(client: Any, point: tuple[float, float], *, kind: str = "leak", deaths: int | None = None,
             injuries: int | None = None, uscc: str | None = None) -> int:
    casualties = {k: v for k, v in (("deaths", deaths), ("injuries", injuries)) if v is not None}
    location = {"enterprise_uscc": uscc} if uscc else {"lon": point[0], "lat": point[1]}
    response = client.post(f"{API}/incidents", json={"kind": kind, "title": "预案测试事件", "location": location,
                                                      **({"casualties": casualties} if casualties else {})})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def listed(client: Any, incident_id: int, plan_id: int) -> dict[str, Any] | None:
    response = client.get(f"{API}/incidents/{incident_id}/plans")
    assert response.status_code == 200, response.get_json()
    return next((p for p in response.get_json()["plans"] if p["id"] == plan_id), None)


@pytest.fixture(scope="module")
def city_plan(clients: dict[str, Any]) -> dict[str, Any]:
    return create(clients["city_reg"], plan_body({"level": "city"}, title="市级测试预案"))


# -- the suggested level --------------------------------------------------------------------------------------------
DEATHS = [(0, None), (1, 4), (2, 4), (3, 3), (9, 3), (10, 2), (29, 2), (30, 1)]
INJURIES = [(0, None), (1, 4), (9, 4), (10, 3), (49, 3), (50, 2), (99, 2), (100, 1)]


@pytest.mark.parametrize(("fact", "value", "level"),
                         [("deaths", v, lv) for v, lv in DEATHS] + [("injuries", v, lv) for v, lv in INJURIES])
def test_the_suggested_level_at_each_boundary(clients, places, city_plan, fact: str, value: int,  # noqa: ANN001
                                              level: int | None) -> None:
    found = listed(clients["dispatcher"], incident(clients["dispatcher"], places["points"][OWN], **{fact: value}),
                   city_plan["id"])
    assert found is not None
    if level is None:
        assert found["suggestion"] is None
        return
    suggestion = found["suggestion"]
    assert suggestion["level"] == level and suggestion["trigger"]["fact"] == fact and suggestion["value"] == value
    numeral = "ⅠⅡⅢⅣ"[level - 1]
    assert suggestion["text"].endswith(f"→ {numeral}级") and f"≥ {suggestion['trigger']['min']} 人" in \
        suggestion["text"]


def test_evacuees_come_from_the_latest_impact_run(clients, places) -> None:  # noqa: ANN001
    client = clients["dispatcher"]
    incident_id = incident(client, places["points"][OWN], kind="explosion")
    run = client.post(f"{API}/incidents/{incident_id}/impact", json={"model": "explosion", "tnt_kg": 2000,
                                                                     "evacuate": False})
    assert run.status_code == 201, run.get_json()
    persons = run.get_json()["population"]["persons"]
    assert persons > 0
    body = plan_body({"level": "city"}, title="疏散人数预案", kinds=["explosion"])
    body["levels"][2]["triggers"] = [{"fact": "evacuees", "min": persons}]         # Ⅲ at exactly the run's persons
    body["levels"][1]["triggers"] = [{"fact": "evacuees", "min": persons + 0.1}]   # Ⅱ just above it
    plan = create(clients["city_reg"], body)
    found = listed(client, incident_id, plan["id"])
    assert found["suggestion"]["level"] == 3 and found["suggestion"]["value"] == persons
    facts = client.get(f"{API}/incidents/{incident_id}/plans").get_json()["facts"]
    assert facts["evacuees"] == persons


def test_which_plans_apply(clients, places, city_plan) -> None:  # noqa: ANN001
    city, district = clients["city_reg"], clients["district_reg"]
    own_district = create(district, plan_body({"level": "district", "district_code": OWN}, title="本区预案"))
    foreign = create(city, plan_body({"level": "district", "district_code": places["foreign"]}, title="外区预案"))
    at_enterprise = create(city, plan_body({"level": "enterprise", "enterprise_uscc": places["own_uscc"]},
                                           title="企业预案"))
    fire_only = create(city, plan_body({"level": "city"}, title="火灾预案", kinds=["fire"]))
    ammonia = create(city, plan_body({"level": "city"}, title="液氨预案", chemicals=["7664-41-7"]))
    here = incident(clients["dispatcher"], places["points"][OWN])
    ids = {p["id"] for p in clients["dispatcher"].get(f"{API}/incidents/{here}/plans").get_json()["plans"]}
    assert {city_plan["id"], own_district["id"]} <= ids
    assert not ids & {foreign["id"], at_enterprise["id"], fire_only["id"]}
    # an incident with no known chemical: the ammonia plan is offered, marked as not confirmed
    assert listed(clients["dispatcher"], here, ammonia["id"])["chemical_confirmed"] is False
    at = incident(clients["dispatcher"], (0, 0), uscc=places["own_uscc"])
    ids = {p["id"] for p in clients["dispatcher"].get(f"{API}/incidents/{at}/plans").get_json()["plans"]}
    assert at_enterprise["id"] in ids


# -- scope ----------------------------------------------------------------------------------------------------------
def test_a_district_regulator_neither_sees_nor_activates_another_districts_plan(clients, places) -> None:  # noqa: ANN001
    city, district = clients["city_reg"], clients["district_reg"]
    foreign_plan = create(city, plan_body({"level": "district", "district_code": places["foreign"]}))
    assert district.get(f"{API}/plans/{foreign_plan['id']}").status_code == 404
    assert district.get(f"{API}/plans/{foreign_plan['id']}/versions").status_code == 404
    assert foreign_plan["id"] not in [p["id"] for p in district.get(f"{API}/plans?limit=1000").get_json()["plans"]]
    own_incident = incident(district, places["points"][OWN], deaths=1)
    response = district.post(f"{API}/incidents/{own_incident}/plans/{foreign_plan['id']}/activate", json={"level": 4})
    assert response.status_code == 404, response.get_json()
    assert scalar(district_db(district), "SELECT count(*) FROM plan_activations WHERE incident_id = :i",
                  i=own_incident) == 0
    # the city's plans are read, not kept; a plan of another district cannot be made
    city_plan = create(city, plan_body({"level": "city"}))
    assert district.get(f"{API}/plans/{city_plan['id']}").status_code == 200
    assert district.put(f"{API}/plans/{city_plan['id']}", json=plan_body({"level": "city"})).status_code == 403
    refused = district.post(f"{API}/plans", json=plan_body({"level": "district", "district_code": places["foreign"]}))
    assert refused.status_code == 403 and places["foreign"] in refused.get_json()["detail"]
    assert district.post(f"{API}/plans", json=plan_body({"level": "city"})).status_code == 403


def district_db(client: Any) -> str:
    return client.application.config["ONEMAP"]["database"]["url"]


def test_an_enterprise_sees_only_its_own_plans(clients, places, city_plan) -> None:  # noqa: ANN001
    company = clients["enterprise"]
    own = create(company, plan_body({"level": "enterprise", "enterprise_uscc": places["own_uscc"]}, title="本企业"))
    other = create(clients["city_reg"], plan_body({"level": "enterprise", "enterprise_uscc": places["other_uscc"]}))
    seen = company.get(f"{API}/plans?limit=1000").get_json()["plans"]
    assert seen and {p["owner"]["enterprise_uscc"] for p in seen} == {places["own_uscc"]}
    assert own["id"] in [p["id"] for p in seen]
    for plan_id in (other["id"], city_plan["id"]):
        assert company.get(f"{API}/plans/{plan_id}").status_code == 404
    # another enterprise is no enterprise it knows of; the command module stays closed to it
    response = company.post(f"{API}/plans", json=plan_body({"level": "enterprise",
                                                             "enterprise_uscc": places["other_uscc"]}))
    assert response.status_code == 400 and response.get_json()["input"] == "owner.enterprise_uscc"
    assert company.get(f"{API}/incidents").status_code == 403


def test_the_dispatcher_reads_plans_but_keeps_none(clients, city_plan) -> None:  # noqa: ANN001
    assert clients["dispatcher"].get(f"{API}/plans/{city_plan['id']}").status_code == 200
    assert clients["dispatcher"].post(f"{API}/plans", json=plan_body({"level": "city"})).status_code == 403


# -- versions and activation ----------------------------------------------------------------------------------------
def test_activation_keeps_its_version_and_makes_timed_tasks(clients, places) -> None:  # noqa: ANN001
    city, dispatcher = clients["city_reg"], clients["dispatcher"]
    resources = [{"kind": "rescue_team", "id": places["team"], "task": "危化救援"},
                 {"kind": "shelter", "id": places["shelter"]}]
    plan = create(city, plan_body({"level": "city"}, title="版本测试预案", resources=resources))
    incident_id = incident(dispatcher, places["points"][OWN], deaths=3)
    at = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
    with clock.freeze(at):
        response = dispatcher.post(f"{API}/incidents/{incident_id}/plans/{plan['id']}/activate", json={"level": "Ⅲ"})
    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    assert result["activation"]["level"] == 3 and result["activation"]["suggested_level"] == 3
    assert result["activation"]["plan_version"] == 1
    assert [(t["action"], t["owner_role"], t["owner_label"], t["due_at"]) for t in result["tasks"]] == [
        ("区级指挥到场", "commander", "总指挥", (at + timedelta(minutes=60)).isoformat()),
        ("救援队出动", "rescue", "抢险救援组", (at + timedelta(minutes=20)).isoformat())]
    # the edit after activation is version 2; the incident keeps version 1
    revised = plan_body({"level": "city"}, title="版本测试预案（修订）", resources=resources)
    revised["levels"][2]["actions"] = [{"action": "修订后的措施", "owner_role": "rescue", "time_limit_min": 5}]
    updated = city.put(f"{API}/plans/{plan['id']}", json=revised)
    assert updated.status_code == 200 and updated.get_json()["version"] == 2
    assert [v["version"] for v in city.get(f"{API}/plans/{plan['id']}/versions").get_json()["versions"]] == [1, 2]
    first = city.get(f"{API}/plans/{plan['id']}/versions/1").get_json()
    assert first["body"]["title"] == "版本测试预案" and first["current_version"] == 2
    again = listed(dispatcher, incident_id, plan["id"])
    assert again["version"] == 2 and again["activation"]["plan_version"] == 1
    detail = dispatcher.get(f"{API}/incidents/{incident_id}").get_json()
    assert detail["response_level"] == 3
    event = [e for e in detail["history"] if e["event"] == "plan_activated"]
    assert len(event) == 1 and event[0]["data"]["plan_version"] == 1 and event[0]["data"]["tasks"] == 2
    assert event[0]["data"]["trigger"] == "死亡人数 ≥ 3 人 → Ⅲ级" and event[0]["actor"] == "dispatcher"
    # the proposals are what the dispatch API takes
    proposals = result["proposed_dispatch"]
    assert [(p["resource_kind"], p["resource_id"]) for p in proposals] == \
        [("rescue_team", places["team"]), ("shelter", places["shelter"])]
    sent = dispatcher.post(f"{API}/incidents/{incident_id}/dispatch",
                           json={k: proposals[0][k] for k in ("resource_kind", "resource_id", "task")})
    assert sent.status_code == 201, sent.get_json()
    # a second activation is refused and writes nothing
    repeat = dispatcher.post(f"{API}/incidents/{incident_id}/plans/{plan['id']}/activate", json={"level": 3})
    assert repeat.status_code == 409 and repeat.get_json()["code"] == "plan_already_activated"
    assert scalar(district_db(dispatcher), "SELECT count(*) FROM incident_tasks WHERE incident_id = :i",
                  i=incident_id) == 2


def test_a_level_other_than_the_suggestion_needs_a_reason(clients, places, city_plan) -> None:  # noqa: ANN001
    client = clients["dispatcher"]
    incident_id = incident(client, places["points"][OWN], deaths=1)
    url = f"{API}/incidents/{incident_id}/plans/{city_plan['id']}/activate"
    for body, name in (({"level": 2}, "reason"), ({}, "level"), ({"level": 5}, "level"),
                       ({"level": 4, "colour": "red"}, "colour"), ({"level": 2, "reason": 3}, "reason"),
                       ({"level": 2, "reason": "a\x00b"}, "reason")):
        response = client.post(url, json=body)
        assert response.status_code == 400 and response.get_json()["input"] == name, (body, response.get_json())
    assert scalar(district_db(client), "SELECT count(*) FROM plan_activations WHERE incident_id = :i",
                  i=incident_id) == 0
    response = client.post(url, json={"level": 2, "reason": "涉及人员密集区，提级响应"})
    assert response.status_code == 201 and response.get_json()["activation"]["suggested_level"] == 4


def test_task_progress(clients, places, city_plan) -> None:  # noqa: ANN001
    client = clients["dispatcher"]
    incident_id = incident(client, places["points"][OWN], deaths=1)
    created = client.post(f"{API}/incidents/{incident_id}/plans/{city_plan['id']}/activate", json={"level": 4})
    task = created.get_json()["tasks"][0]
    assert task["time_limit_min"] == 15 and not task["done"] and not task["overdue"]
    url = f"{API}/incidents/{incident_id}/tasks/{task['id']}"
    with clock.travel(timedelta(minutes=16)):
        tasks = client.get(f"{API}/incidents/{incident_id}/tasks").get_json()
        assert tasks["overdue"] == 1 and tasks["tasks"][0]["overdue"]
        done = client.patch(url, json={"done": True}).get_json()
    assert done["done"] and done["done_by"] == "dispatcher" and not done["overdue"]
    assert client.patch(url, json={"done": True}).get_json()["done_at"] == done["done_at"]  # a repeat: no change
    assert client.patch(url, json={"done": "yes"}).status_code == 400
    reopened = client.patch(url, json={"done": False}).get_json()
    assert not reopened["done"] and reopened["done_by"] is None and reopened["overdue"] is False
    history = client.get(f"{API}/incidents/{incident_id}/history").get_json()
    events = [e["event"] for e in (history if isinstance(history, list) else history["history"])]
    assert events.count("task_done") == 1 and events.count("task_reopened") == 1
    done_event = next(e for e in (history if isinstance(history, list) else history["history"])
                      if e["event"] == "task_done")
    assert done_event["data"]["late"] is True
    assert client.patch(f"{API}/incidents/{incident_id}/tasks/999999", json={"done": True}).status_code == 404


# -- review ---------------------------------------------------------------------------------------------------------
def test_the_review_deadline_and_the_overdue_list(clients) -> None:  # noqa: ANN001
    city = clients["city_reg"]
    today = clock.today()
    old = create(city, plan_body({"level": "city"}, title="逾期评估预案",
                                 approved_on=today.replace(year=today.year - 3).isoformat()
                                 if not (today.month == 2 and today.day == 29) else "2020-01-01"))
    old = create(city, plan_body({"level": "city"}, title="过期一天",
                                 approved_on=(date.fromisoformat(old["approved_on"]) - timedelta(days=1))
                                 .isoformat()))
    fresh = create(city, plan_body({"level": "city"}, title="新预案"))
    assert old["review_status"] == "overdue" and fresh["review_status"] == "ok"
    assert fresh["review_due"] == today.replace(year=today.year + 3).isoformat()
    overdue = [p["id"] for p in city.get(f"{API}/plans?review=overdue&limit=1000").get_json()["plans"]]
    assert old["id"] in overdue and fresh["id"] not in overdue
    # a review (a revision with a new approval date) moves the deadline
    body = plan_body({"level": "city"}, title="过期一天")
    moved = city.put(f"{API}/plans/{old['id']}", json=body).get_json()
    assert moved["review_status"] == "ok" and moved["version"] == 2


# -- bad input ------------------------------------------------------------------------------------------------------
def _set(path: str, value: Any):  # noqa: ANN202
    def change(body: dict[str, Any]) -> None:
        keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
        node = body
        for k in keys[:-1]:
            node = node[k]
        if value is KeyError:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return change


BAD = [
    ("title", KeyError, "title"),
    ("title", "", "title"),
    ("kind", "plan_b", "kind"),
    ("approved_on", "2026-13-01", "approved_on"),
    ("owner.level", "province", "owner.level"),
    ("owner.district_code", "329902", "owner.district_code"),  # a city plan has no district
    ("scope.incident_kinds", ["flood"], "scope.incident_kinds[0]"),
    ("scope.chemicals", ["chlorine"], "scope.chemicals[0]"),
    ("levels[0].level", 5, "levels[0].level"),
    ("levels[1].level", 1, "levels[1].level"),  # level Ⅰ twice
    ("levels[0].triggers[1].min", -1, "levels[0].triggers[1].min"),
    ("levels[0].triggers[1].fact", "rain", "levels[0].triggers[1].fact"),
    ("levels[0].triggers[0]", {"fact": "chemical_quantity_t", "min": 1}, "levels[0].triggers[0].chemical"),
    ("levels[0].triggers[0]", {"fact": "deaths", "min": 1, "chemical": CHLORINE}, "levels[0].triggers[0].chemical"),
    ("levels[2].actions[1].owner_role", "mayor", "levels[2].actions[1].owner_role"),
    ("levels[2].actions[1].time_limit_min", 0, "levels[2].actions[1].time_limit_min"),
    ("levels[2].actions", [], "levels[2].actions"),
    ("organisation[1].role", "commander", "organisation[1].role"),
    ("resources", [{"kind": "shelter", "id": 99999999}], "resources[0].id"),
    ("resources", [{"kind": "boat", "id": 1}], "resources[0].kind"),
    ("extra", 1, "extra"),
    ("organisation[1].duties", "抢\x00险", "organisation[1].duties"),
    ("title", "a\x00b", "title"),
]


@pytest.mark.parametrize(("path", "value", "name"), BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_a_bad_plan_is_a_400_naming_the_field(clients, path: str, value: Any, name: str) -> None:  # noqa: ANN001
    city = clients["city_reg"]
    body = copy.deepcopy(plan_body({"level": "city"}, title="坏预案"))
    _set(path, value)(body)
    before = scalar(district_db(city), "SELECT count(*) FROM emergency_plan_versions")
    response = city.post(f"{API}/plans", json=body)
    assert response.status_code == 400, response.get_json()
    problem = response.get_json()
    assert problem["input"] == name, problem
    assert name in problem["detail"]
    assert scalar(district_db(city), "SELECT count(*) FROM emergency_plan_versions") == before


# -- facts at an enterprise -----------------------------------------------------------------------------------------
def test_facts_at_an_enterprise_chemicals_and_alarm_level(clients, db: str) -> None:  # noqa: ANN001
    """A leak at the demo chlorine holder: its hazard sources' tonnes per CAS and its highest active alarm are the
    incident's facts; its 现场处置方案 (scope: chlorine) applies with the chemical confirmed, Ⅳ by the alarm."""
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        plan_id, uscc = conn.execute(sa.text("SELECT id, enterprise_uscc FROM emergency_plans WHERE "
                                             "owner_level = 'enterprise' AND title LIKE '%液氯泄漏现场处置方案'")).one()
        held = {r.cas: r.tonnes for r in conn.execute(sa.text(
            "SELECT c.cas, sum(c.quantity_t) AS tonnes FROM hazard_source_chemicals c JOIN hazard_sources h ON "
            "h.code = c.hazard_source_code WHERE h.enterprise_uscc = :u AND h.status = 'active' GROUP BY c.cas"),
            {"u": uscc})}
        sensor = conn.execute(sa.text("SELECT s.code FROM sensors s JOIN hazard_sources h ON h.code = "
                                      "s.hazard_source_code WHERE h.enterprise_uscc = :u ORDER BY s.code LIMIT 1"),
                              {"u": uscc}).scalar()
    client = clients["dispatcher"]
    incident_id = incident(client, (0, 0), kind="leak", uscc=uscc)
    answer = client.get(f"{API}/incidents/{incident_id}/plans").get_json()
    assert answer["facts"]["chemicals"] == pytest.approx(held) and CHLORINE in answer["chemicals_involved"]
    own = next(p for p in answer["plans"] if p["id"] == plan_id)
    assert own["chemical_confirmed"] is True
    # chlorine held ≥ 0.1 t is the plan's Ⅳ trigger until an alarm is raised (the first matching trigger is named)
    assert own["suggestion"]["level"] == 4 and own["suggestion"]["trigger"]["fact"] == "chemical_quantity_t"
    assert answer["facts"]["alarm_level"] is None
    assert sensor is not None, "the demo chlorine holder has no sensor"
    with engine.begin() as conn:
        for level, state in ((1, "cleared"), (2, "active"), (1, "active")):
            conn.execute(sa.text(
                "INSERT INTO monitoring_alarms (sensor_code, rule, kind, level, state, message, raised_at, updated_at, "
                "cleared_at) VALUES (:s, :r, 'level', :l, :st, '测试报警', now(), now(), :cleared)"),
                {"s": sensor, "r": f"test_{level}_{state}", "l": level, "st": state,
                 "cleared": datetime.now(UTC) if state == "cleared" else None})
    engine.dispose()
    facts = client.get(f"{API}/incidents/{incident_id}/plans").get_json()["facts"]
    assert facts["alarm_level"] == 2  # the highest active one; a cleared alarm counts for nothing
