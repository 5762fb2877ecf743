"""Handling a complaint on the case engine: triage by the city, assignment to a district (whose staff then see it,
and no other district's), investigation and the reply within working days (调休 and the National Day holiday
counted by the holiday table), closure with the reward record; the reporter follows it with the code and sees the
state and the published reply only. And the reporter stays hidden: a walk over every GET route of the application
as the district's staff never meets the named reporter's contact, which the city regulator alone reads (audited)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.routing import IntegerConverter

from core import clock
from core.errors import DomainError
from supervision.cases import service
from tests.conftest import clone_database, drop_database
from tests.integration.auth_support import audit_rows, sign_in
from tests.integration.cases_support import CONFIG, at, caller
from tests.integration.complaints_support import FILING, URL, complaint_app, inside

OWN, OTHER = "329902", "329903"
NAME, PHONE = "举报人甄某某", "13987654321"


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts) -> Iterator[SimpleNamespace]:  # noqa: ANN001
    from core.workdays_store import seed

    url = clone_database(pg_cluster, "t_complaints_handling")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        seed(conn, [2026])
        point = inside(conn, OWN)
    app = complaint_app(url, demo_artifacts)
    yield SimpleNamespace(url=url, engine=engine, app=app, point=point)
    engine.dispose()
    drop_database(pg_cluster, "t_complaints_handling")


def file(world: SimpleNamespace, **extra: Any) -> dict[str, Any]:
    lon, lat = world.point
    response = world.app.test_client().post(URL, json={**FILING, "location": {"lon": lon, "lat": lat,
                                                                              "datum": "wgs84"}, **extra})
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    with world.engine.connect() as conn:
        answer["id"] = conn.execute(sa.text("SELECT id FROM cases WHERE code = :n"), {"n": answer["number"]}).scalar()
    return answer


def move(world: SimpleNamespace, who: Any, case_id: int, action: str, form: dict[str, Any] | None = None
         ) -> dict[str, Any]:
    identity, access = who
    with world.engine.connect() as conn:
        return service.transition(conn, case_id, {"action": action, "form": form or {}}, access=access,
                                  identity=identity, config=CONFIG)


def read(world: SimpleNamespace, who: Any, case_id: int) -> dict[str, Any]:
    identity, access = who
    with world.engine.connect() as conn:
        return service.detail(conn, case_id, access=access, identity=identity)


def follow(world: SimpleNamespace, complaint: dict[str, Any]) -> dict[str, Any]:
    response = world.app.test_client().get(f"{URL}/{complaint['number']}",
                                           headers={"X-Query-Code": complaint["query_code"]})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def due(case: dict[str, Any], clock_id: str) -> str | None:
    return next(c for c in case["clocks"] if c["clock"] == clock_id)["due_date"]


CITY = caller("city_regulator", name="city_office")
DISTRICT = caller("district_regulator", district=OWN, name="district_officer")
OTHER_DISTRICT = caller("district_regulator", district=OTHER, name="other_officer")


def test_from_filing_to_closure_within_working_days(world: SimpleNamespace) -> None:
    with clock.freeze(at("2026-09-23 10:00")):   # a Wednesday, before 中秋 (Fri 25) and 国庆 (1–7 October)
        complaint = file(world)
        case = read(world, CITY, complaint["id"])
        # 5 working days to decide: Thu 24, Mon 28, Tue 29, Wed 30 September, Thu 8 October
        assert case["state"] == "received" and due(case, "triage") == "2026-10-08"
        for who in (DISTRICT, OTHER_DISTRICT):   # not yet assigned: no district sees it
            with pytest.raises(DomainError) as hidden:
                read(world, who, complaint["id"])
            assert hidden.value.http_status == 404
        with pytest.raises(DomainError) as not_theirs:
            move(world, DISTRICT, complaint["id"], "accept")
        assert not_theirs.value.http_status == 404
    with clock.freeze(at("2026-10-08 09:30")):
        move(world, CITY, complaint["id"], "accept", {"opinion": "属于安全生产举报，予以受理"})
        bad = move_error(world, CITY, complaint["id"], "assign", {"district_code": "329999"})
        assert bad.http_status == 400 and bad.details["input"] == "form.district_code"
        case = move(world, CITY, complaint["id"], "assign", {"district_code": OWN, "instructions": "请核查"})
        # 15 working days to reply: Fri 9, Sat 10 (调休), 12–16, 19–23, Mon 26, Tue 27, Wed 28 October
        assert case["state"] == "investigating" and case["district_code"] == OWN
        with world.engine.connect() as conn:   # the district is told, in its own scope (the live event's tag)
            results = conn.execute(sa.text("SELECT results FROM case_events WHERE case_id = :id AND action = 'assign'"),
                                   {"id": complaint["id"]}).scalar_one()
        assert results["district_code"] == OWN and results["notified"][0]["roles"] == ["district_regulator"]
        assert due(case, "reply") == "2026-10-28"
        assert read(world, DISTRICT, complaint["id"])["state"] == "investigating"
        with pytest.raises(DomainError) as elsewhere:
            read(world, OTHER_DISTRICT, complaint["id"])
        assert elsewhere.value.http_status == 404
        assert follow(world, complaint)["state"] == "investigating"
        assert follow(world, complaint)["reply"] is None
    with clock.freeze(at("2026-10-20 15:00")):
        assert move_error(world, DISTRICT, complaint["id"], "extend", {"reason": "需协调"}).http_status == 403
        case = move(world, CITY, complaint["id"], "extend", {"reason": "需联合住建部门核查"})
        assert due(case, "reply") == "2026-11-11"   # + 10 working days: 29, 30 Oct, 2–6 Nov, 9–11 Nov
        assert move_error(world, CITY, complaint["id"], "extend", {"reason": "再延"}).http_status == 409
    with clock.freeze(at("2026-11-05 11:00")):
        case = move(world, DISTRICT, complaint["id"], "reply", {
            "findings": "现场核实：消防通道堵塞属实，已责令当场清理；灭火器已更换。执法人员：张三、李四",
            "reply": "经核查，您反映的问题属实，已责令该单位立即整改并完成复查。感谢您的监督！",
            "substantiated": "true_report"})
        assert case["state"] == "replied" and next(c for c in case["clocks"] if c["clock"] == "reply")["status"] == "met"
        status = follow(world, complaint)
        assert status["state"] == "replied" and status["reply"]["text"].startswith("经核查")
        assert "张三" not in str(status) and "findings" not in str(status)   # the internal findings stay inside
        case = move(world, CITY, complaint["id"], "close", {"reward_amount": 2000, "reward_note": "凭查询码领取"})
        assert case["state"] == "closed" and case["data"]["reward_amount"] == 2000
        assert follow(world, complaint)["final"] is True


def move_error(world: SimpleNamespace, who: Any, case_id: int, action: str, form: dict[str, Any]) -> DomainError:
    with pytest.raises(DomainError) as refused:
        move(world, who, case_id, action, form)
    return refused.value


def test_a_complaint_not_accepted_tells_the_reporter_why(world: SimpleNamespace) -> None:
    complaint = file(world)
    move(world, CITY, complaint["id"], "reject_application", {"rejection_reason": "不属于安全生产监管职责，请向市场监管部门反映"})
    status = follow(world, complaint)
    assert status["state"] == "not_accepted" and status["reply"] == {
        "kind": "not_accepted", "text": "不属于安全生产监管职责，请向市场监管部门反映"}


def test_a_district_returns_a_complaint_to_the_city(world: SimpleNamespace) -> None:
    complaint = file(world)
    move(world, CITY, complaint["id"], "accept")
    move(world, CITY, complaint["id"], "assign", {"district_code": OWN})
    case = move(world, DISTRICT, complaint["id"], "return_to_city", {"reason": "位置属于相邻区县"})
    # the answer says the move is done and the case has left the district (not a 404 for a move that succeeded)
    assert case == {"id": complaint["id"], "code": complaint["number"], "case_type": "complaint", "state": "accepted",
                    "version": case["version"], "out_of_scope": True}
    assert case["version"] > 1
    assert read(world, CITY, complaint["id"])["district_code"] == "329900"
    with pytest.raises(DomainError):
        read(world, DISTRICT, complaint["id"])


def _get_routes(app: Any, case_id: int) -> list[str]:
    """Every GET route of the app, its integer arguments the complaint's case id (strings: a harmless sample)."""
    adapter, paths = app.url_map.bind("testserver"), set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in {"events.stream", "static"} or rule.rule.startswith(
                ("/ogcapi", "/ows", "/tiles")):
            continue
        values = {name: case_id if isinstance(rule._converters[name], IntegerConverter) else "x"  # noqa: SLF001
                  for name in rule.arguments}
        paths.add(adapter.build(rule.endpoint, values, method="GET"))
    return sorted(paths) + ["/api/cases?case_type=complaint", f"/api/cases/{case_id}/events",
                            "/api/cases?q=" + NAME, "/ogcapi/collections?f=json"]


def test_the_districts_staff_never_see_the_reporter(world: SimpleNamespace) -> None:
    """A named complaint, assigned to the district: everything the district regulator can GET (every route of the
    app, the case, its events, the work lists, the search) and nothing holds the reporter's name or phone; the
    reporter family refuses them (403). The city regulator reads the reporter there, and the reading is audited."""
    complaint = file(world, anonymous=False, contact={"name": NAME, "phone": PHONE}, address="示范市纬一路18号")
    move(world, CITY, complaint["id"], "accept")
    move(world, CITY, complaint["id"], "assign", {"district_code": OWN})
    district = world.app.test_client()
    sign_in(district, "district_reg")
    seen = 0
    for path in _get_routes(world.app, complaint["id"]):
        response = district.get(path)
        body = response.get_data(as_text=True)
        assert NAME not in body and PHONE not in body, path
        seen += response.status_code == 200
    assert seen > 20
    mine = district.get(f"/api/complaints/{complaint['id']}")
    assert mine.status_code == 200 and mine.get_json()["number"] == complaint["number"]
    assert "anonymous" not in mine.get_json() and "reporter" not in mine.get_json()
    assert district.get(f"/api/cases/{complaint['id']}").get_json()["code"] == complaint["number"]
    assert district.get(f"/api/complaints/reporters/{complaint['id']}").status_code == 403
    city = world.app.test_client()
    sign_in(city, "city_reg")
    reporter = city.get(f"/api/complaints/reporters/{complaint['id']}")
    assert reporter.status_code == 200 and reporter.get_json() == {
        "id": complaint["id"], "number": complaint["number"], "anonymous": False, "contact_name": NAME,
        "contact_phone": PHONE}
    reads = [r for r in audit_rows(world.url, "complaint.reporter_read") if r.object_id == str(complaint["id"])]
    assert reads and reads[-1].username == "city_reg"


def test_an_anonymous_complaint_has_no_reporter_to_reveal(world: SimpleNamespace) -> None:
    complaint = file(world)
    city = world.app.test_client()
    sign_in(city, "city_reg", offset_steps=1)   # a TOTP code is used once: the next step's
    answer = city.get(f"/api/complaints/reporters/{complaint['id']}").get_json()
    assert answer["anonymous"] is True and answer["contact_name"] is None and answer["contact_phone"] is None
    assert re.fullmatch(r"JB-\d{4}-\d{6}", answer["number"])
