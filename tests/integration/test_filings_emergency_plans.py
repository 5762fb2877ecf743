"""生产安全事故应急预案备案 end to end on the case engine: the enterprise files its own plan, the plan is checked
against the GB/T 29639-2020 elements (an incomplete one refused naming every missing element, nothing written), the
20-working-day filing deadline is counted from the plan's issue date with 调休, and the regulator checks the filing
within 5 working days (the days of a correction not counted) and files it with a gapless number."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from core import clock
from core.errors import DomainError, InvalidInput, NotFound
from supervision.cases import service
from supervision.filings import plans
from tests.integration.cases_support import CONFIG, at, caller
from tests.integration.test_permits import as_, web

TYPE = "emergency_plan_filing"
COMPREHENSIVE = ["general", "organisation", "response", "aftermath", "support"]
PLAN = {"plan_title": "示范化工有限公司生产安全事故应急预案（2026版）", "issued_on": "2026-10-20",
        "comprehensive": COMPREHENSIVE,
        "special": [{"title": "危险化学品泄漏专项应急预案",
                     "elements": ["scope", "organisation", "activation", "measures", "support"]}],
        "on_site": [{"title": "液氯储罐区泄漏现场处置方案", "elements": ["risks", "duties", "handling", "cautions"]},
                    {"title": "装车站台火灾现场处置方案", "elements": ["risks", "duties", "handling", "cautions"]}]}


@pytest.fixture
def db(fresh_db: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(fresh_db)
    yield engine
    engine.dispose()


@pytest.fixture
def place(db: sa.Engine) -> SimpleNamespace:
    with db.connect() as conn:
        own = conn.execute(sa.text("SELECT uscc, district_code FROM enterprises ORDER BY uscc LIMIT 1")).one()
        other = conn.execute(sa.text("SELECT uscc, district_code FROM enterprises WHERE district_code <> :d "
                                     "ORDER BY uscc LIMIT 1"), {"d": own.district_code}).one()
    return SimpleNamespace(uscc=own.uscc, district=own.district_code, other_uscc=other.uscc,
                           other_district=other.district_code)


def enterprise(uscc: str) -> Any:
    return caller("enterprise_user", uscc=uscc, name="ent_" + uscc[-4:])


def submit(db: sa.Engine, who: Any, uscc: str, form: dict[str, Any] | None = None) -> dict[str, Any]:
    identity, access = who
    with db.connect() as conn:
        return service.open_case(conn, {"case_type": TYPE, "anchor": {"kind": "enterprise", "id": uscc},
                                        "form": PLAN if form is None else form},
                                 access=access, identity=identity, config=CONFIG)


def move(db: sa.Engine, who: Any, case_id: int, action: str, form: dict[str, Any] | None = None) -> dict[str, Any]:
    identity, access = who
    with db.connect() as conn:
        return service.transition(conn, case_id, {"action": action, "form": form or {}}, access=access,
                                  identity=identity, config=CONFIG)


def clock_of(case: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in case["clocks"] if c["clock"] == name)


def counts(db: sa.Engine) -> tuple[int, int]:
    with db.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM document_numbers)")).one())


def test_the_elements_are_data_with_the_parts_of_the_standard() -> None:
    spec = plans.elements()
    assert spec["standard"] == "GB/T 29639-2020" and spec["filing_deadline"] == {
        "days": 20, "unit": "working_days", "from": "issued_on"}
    assert [e["zh-CN"] for e in spec["parts"]["comprehensive"]["elements"].values()] == \
        ["总则", "应急组织机构及职责", "应急响应", "后期处置", "应急保障"]
    assert set(spec["parts"]) == {"comprehensive", "special", "on_site"}


def test_a_plan_goes_from_the_enterprise_to_the_filing_number_by_the_right_roles(db: sa.Engine,
                                                                                  place: SimpleNamespace) -> None:
    ent = enterprise(place.uscc)
    district = caller("district_regulator", district=place.district)
    with clock.freeze(at("2026-11-02 09:00")):   # a Monday
        case = submit(db, ent, place.uscc)
        assert case["state"] == "submitted" and case["code"].startswith("YA-")
        # issued Tue 20 October: 21–23, 26–30 October, 2–6, 9–13, 16–17 November → due Tue 17 November
        assert case["data"]["filing_deadline"] == {"issued_on": "2026-10-20", "due": "2026-11-17",
                                                   "submitted_on": "2026-11-02", "late": False,
                                                   "provisional": False}
        assert case["data"]["plan_parts"] == {"comprehensive": 1, "special": 1, "on_site": 2}
        # the regulator checks within 5 working days: 3–6, 9 November
        assert clock_of(case, "check")["due_date"] == "2026-11-09"
        with pytest.raises(DomainError) as own_filing:
            move(db, ent, case["id"], "file")
        assert own_filing.value.http_status == 403
        with pytest.raises(NotFound):
            move(db, caller("district_regulator", district=place.other_district), case["id"], "file")
        case = move(db, district, case["id"], "return_for_correction", {"items": "缺少应急资源调查报告"})
        assert case["state"] == "correcting" and clock_of(case, "check")["status"] == "paused"
        assert case["data"]["documents"]["correction"] == "示应急预案备补〔2026〕1号"
        case = move(db, ent, case["id"], "resubmit", PLAN)
        case = move(db, district, case["id"], "file", {"opinion": "材料齐全"})
    assert case["state"] == "filed" and case["final"] and clock_of(case, "check")["status"] == "met"
    assert case["data"]["documents"]["filing"] == "示应急预案备〔2026〕1号"


def test_an_incomplete_plan_is_refused_naming_every_missing_element_and_nothing_is_written(
        db: sa.Engine, place: SimpleNamespace) -> None:
    ent = enterprise(place.uscc)
    before = counts(db)
    lacking = {**PLAN, "comprehensive": ["general", "organisation", "response"], "on_site": []}
    with clock.freeze(at("2026-11-02 09:00")):
        with pytest.raises(InvalidInput) as refused:
            submit(db, ent, place.uscc, lacking)
        problem = refused.value.to_problem("zh-CN")
        assert problem["status"] == 400 and problem["input"] == "form.comprehensive"
        assert "综合应急预案缺少：后期处置、应急保障" in problem["detail"]
        assert "现场处置方案缺少：事故风险描述、应急工作职责、应急处置、注意事项" in problem["detail"]
        assert [(m["part"], m["elements"]) for m in problem["missing"]] == [
            ("comprehensive", ["aftermath", "support"]), ("on_site", ["risks", "duties", "handling", "cautions"])]
        assert "lacks Recovery after the response, Emergency support" in refused.value.message_en
        # a special plan filed must be complete too; it is named by its place and title
        special = {**PLAN, "special": [{"title": "危险化学品泄漏专项应急预案", "elements": ["scope", "measures"]}]}
        with pytest.raises(InvalidInput) as incomplete_special:
            submit(db, ent, place.uscc, special)
        assert incomplete_special.value.input_name == "form.special[0].elements"
        assert "专项应急预案“危险化学品泄漏专项应急预案”缺少：应急组织机构及职责、响应启动、应急保障" in \
            incomplete_special.value.message_zh
        with pytest.raises(InvalidInput) as unknown:
            submit(db, ent, place.uscc, {**PLAN, "comprehensive": [*COMPREHENSIVE, "appendix"]})
        assert unknown.value.input_name == "form.comprehensive" and unknown.value.details["value"] == "appendix"
        with pytest.raises(InvalidInput) as future:
            submit(db, ent, place.uscc, {**PLAN, "issued_on": "2026-11-03"})
        assert future.value.input_name == "form.issued_on"
    assert counts(db) == before


def test_the_filing_deadline_and_the_check_clock_worked_by_hand_across_national_day(
        db: sa.Engine, place: SimpleNamespace) -> None:
    """The 2026 schedule: Sun 20 September worked (调休), 中秋节 Fri 25 September off, National Day 1–7 October off,
    Sat 10 October worked.

    A plan issued Fri 18 September: 20 working days from the 19th — Sun 20 (1), 21–24 (2–5), 28–30 (6–8), Thu 8
    October (9), Fri 9 (10), Sat 10 (11), 12–16 (12–16), 19–22 (17–20): due Thu 22 October. Filed that day it is in
    time; a day later it is late, and filed all the same.

    The regulator's 5 working days from a submission on Thu 22 October: 23, 26, 27, 28, 29 → Thu 29 October. Returned
    for correction on Fri 23 October (counted: 1) and corrected on Tue 27 October (24–27 not counted): 28 (2), 29
    (3), 30 (4), Mon 2 November (5) → due Mon 2 November."""
    ent, district = enterprise(place.uscc), caller("district_regulator", district=place.district)
    issued = {**PLAN, "issued_on": "2026-09-18"}
    with clock.freeze(at("2026-10-23 09:00")):
        late = submit(db, ent, place.uscc, issued)
        assert late["data"]["filing_deadline"]["due"] == "2026-10-22" and late["data"]["filing_deadline"]["late"]
        late = move(db, district, late["id"], "file")
        assert late["state"] == "filed"   # late, on record, and filed
    with clock.freeze(at("2026-10-22 17:00")):
        case = submit(db, ent, place.uscc, issued)
        assert case["data"]["filing_deadline"]["late"] is False
        assert clock_of(case, "check")["due_date"] == "2026-10-29"
    with clock.freeze(at("2026-10-23 10:00")):
        case = move(db, district, case["id"], "return_for_correction", {"items": "补充现场处置方案"})
        assert clock_of(case, "check")["due_date"] is None
    with clock.freeze(at("2026-10-27 15:00")):
        case = move(db, ent, case["id"], "resubmit", issued)
    check = clock_of(case, "check")
    assert check["status"] == "running" and check["due_date"] == "2026-11-02"
    assert case["data"]["filing_deadline"]["submitted_on"] == "2026-10-27"


def test_another_enterprise_cannot_file_or_see_the_plan_and_bad_input_names_the_field(
        db: sa.Engine, fresh_db: str, place: SimpleNamespace, app_factory: Any) -> None:
    client = web(fresh_db, app_factory)
    ent, other = enterprise(place.uscc), enterprise(place.other_uscc)
    before = counts(db)
    foreign = client.post("/api/cases", json={"case_type": TYPE, "anchor": {"kind": "enterprise", "id": place.uscc},
                                              "form": PLAN}, environ_base=as_(other))
    assert foreign.status_code == 400 and foreign.get_json()["input"] == "anchor.id"
    for form, field in (({k: v for k, v in PLAN.items() if k != "issued_on"}, "issued_on"),
                        ({**PLAN, "issued_on": "20-10-2026"}, "form.issued_on"),
                        ({**PLAN, "plan_title": "x"}, "form.plan_title"),
                        ({**PLAN, "on_site": [{"title": "无要素的方案"}]}, "form.on_site.0"),
                        ({**PLAN, "comprehensive": COMPREHENSIVE[:4]}, "form.comprehensive")):
        response = client.post("/api/cases", json={"case_type": TYPE, "anchor": {"kind": "enterprise",
                                                                                 "id": place.uscc}, "form": form},
                               environ_base=as_(ent))
        assert response.status_code == 400 and response.mimetype == "application/problem+json", response.get_json()
        assert field in response.get_json()["input"], (field, response.get_json())
    assert counts(db) == before
    key = {"Idempotency-Key": "plan-filing-2026-001"}
    body = {"case_type": TYPE, "anchor": {"kind": "enterprise", "id": place.uscc}, "form": PLAN}
    first = client.post("/api/cases", json=body, headers=key, environ_base=as_(ent))
    again = client.post("/api/cases", json=body, headers=key, environ_base=as_(ent))
    assert (first.status_code, again.status_code) == (201, 200) and first.get_json()["id"] == again.get_json()["id"]
    case_id = first.get_json()["id"]
    assert client.get(f"/api/cases/{case_id}", environ_base=as_(other)).status_code == 404
    assert client.get(f"/api/cases/{case_id}", environ_base=as_(ent)).status_code == 200
    listed = client.get(f"/api/cases?case_type={TYPE}", environ_base=as_(other))
    assert listed.status_code == 200 and first.get_json()["code"] not in listed.get_data(as_text=True)
    elements = client.get("/api/filings/emergency-plans/elements", environ_base=as_(ent))
    assert elements.status_code == 200 and "on_site" in elements.get_json()["parts"]
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases WHERE case_type = :t"), {"t": TYPE}).scalar_one() == 1
