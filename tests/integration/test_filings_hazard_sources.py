"""重大危险源备案 end to end on the case engine: the enterprise files its own hazard source, the data is graded by
GB 18218 on submission (a filing the data does not support is refused with the numbers, and nothing is written),
the regulator accepts, returns for correction (the clock stands still) and files it with a gapless number, and the
hazard source's filing status (filed / overdue / missing) follows — in the API, on the layer row the map reads, and
when the three years run out (the engine's timer)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from core import clock
from core.errors import DomainError, InvalidInput, NotFound
from supervision.cases import registry, scheduler, service
from tests.integration.cases_support import CONFIG, at, caller
from tests.integration.test_permits import as_, web

TYPE = "hazard_source_filing"
# GB 18218-2018 worked by hand. Chlorine (氯, CAS 7782-50-5): Table 1 Q = 5 t, Table 3 β = 4; methanol (甲醇):
# Table 1 Q = 500 t, β = 1 (W5.3, Table 4). Table 5 α: 100 or more persons within 500 m → 2.0; 50–99 → 1.5.
# Table 6: 一级 R ≥ 100, 二级 50 ≤ R < 100, 三级 10 ≤ R < 50, 四级 R < 10.
CHLORINE_30 = [{"cas": "7782-50-5", "quantity_t": 30}]    # S = 30/5 = 6; R = 2.0 × 4 × 6 = 48 → 三级 (120 persons)
FILING = {"declared_grade": 3, "exposed_population": 120, "chemicals": CHLORINE_30,
          "assessment_report_on": "2026-08-20", "principal": "张建国", "contact_phone": "025-88886666"}


@pytest.fixture
def db(fresh_db: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(fresh_db)
    yield engine
    engine.dispose()


@pytest.fixture
def place(db: sa.Engine) -> SimpleNamespace:
    """A hazard source, its enterprise and district, and another enterprise's hazard source in another district."""
    with db.connect() as conn:
        own = conn.execute(sa.text("SELECT code, enterprise_uscc, district_code FROM hazard_sources "
                                   "ORDER BY code LIMIT 1")).one()
        other = conn.execute(sa.text("SELECT code, enterprise_uscc, district_code FROM hazard_sources WHERE "
                                     "district_code <> :d AND enterprise_uscc <> :u ORDER BY code LIMIT 1"),
                             {"d": own.district_code, "u": own.enterprise_uscc}).one()
    return SimpleNamespace(code=own.code, uscc=own.enterprise_uscc, district=own.district_code, other_code=other.code,
                           other_uscc=other.enterprise_uscc, other_district=other.district_code)


def enterprise(uscc: str) -> Any:
    return caller("enterprise_user", uscc=uscc, name="ent_" + uscc[-4:])


def submit(db: sa.Engine, who: Any, code: str, form: dict[str, Any] | None = None) -> dict[str, Any]:
    identity, access = who
    with db.connect() as conn:
        return service.open_case(conn, {"case_type": TYPE, "anchor": {"kind": "hazard_source", "id": code},
                                        "form": FILING if form is None else form},
                                 access=access, identity=identity, config=CONFIG)


def move(db: sa.Engine, who: Any, case_id: int, action: str, form: dict[str, Any] | None = None) -> dict[str, Any]:
    identity, access = who
    with db.connect() as conn:
        return service.transition(conn, case_id, {"action": action, "form": form or {}}, access=access,
                                  identity=identity, config=CONFIG)


def clock_of(case: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in case["clocks"] if c["clock"] == name)


def layer_row(db: sa.Engine, code: str) -> tuple[Any, ...]:
    with db.connect() as conn:
        return tuple(conn.execute(sa.text("SELECT filing_status, filing_number, filing_valid_to::text FROM "
                                          "hazard_sources WHERE code = :c"), {"c": code}).one())


def counts(db: sa.Engine) -> tuple[int, int, int]:
    with db.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM document_numbers), "
            "(SELECT count(*) FROM case_events)")).one())


def test_the_case_type_is_declared_on_the_hazard_source() -> None:
    ct = registry.get(TYPE)
    assert ct.anchor == ("hazard_source",)
    assert {t.id for t in ct.openings()} == {"submit"}
    assert ct.states["correcting"].pause == ("review",)


def test_a_filing_goes_from_the_enterprise_to_the_filing_number_by_the_right_roles(
        db: sa.Engine, place: SimpleNamespace) -> None:
    ent = enterprise(place.uscc)
    district = caller("district_regulator", district=place.district, name="district_officer")
    other_district = caller("district_regulator", district=place.other_district)
    assert layer_row(db, place.code) == ("missing", None, None)
    with clock.freeze(at("2026-11-02 09:00")):   # a Monday
        case = submit(db, ent, place.code)
        assert case["state"] == "submitted" and case["code"].startswith("BA-")
        assert (case["anchor"]["kind"], case["anchor"]["id"], case["enterprise_uscc"]) == \
            ("hazard_source", place.code, place.uscc)
        assert case["data"]["grading"]["r_value"] == 48.0 and case["data"]["grading"]["grade_computed"] == 3
        # 10 working days: 3–6, 9–13, 16 November
        assert clock_of(case, "review")["due_date"] == "2026-11-16"
        assert {a["id"] for a in case["actions"]} == {"withdraw"}
        with pytest.raises(DomainError) as own_accept:
            move(db, ent, case["id"], "accept")
        assert own_accept.value.http_status == 403
        with pytest.raises(NotFound):
            move(db, other_district, case["id"], "accept")
        case = move(db, district, case["id"], "accept")
        assert case["state"] == "reviewing"
        case = move(db, district, case["id"], "return_for_correction", {"items": "补充安全评估报告"})
        assert case["state"] == "correcting" and clock_of(case, "review")["status"] == "paused"
        assert case["data"]["documents"]["correction"] == "示应急危险源备补〔2026〕1号"
    with clock.freeze(at("2026-11-04 09:00")):
        case = move(db, ent, case["id"], "resubmit", {**FILING, "assessment_report_on": "2026-09-01"})
        assert case["state"] == "submitted" and clock_of(case, "review")["status"] == "running"
        case = move(db, district, case["id"], "accept")
        case = move(db, district, case["id"], "file", {"opinion": "材料齐全，予以备案"})
    assert case["state"] == "filed" and case["final"] and clock_of(case, "review")["status"] == "met"
    filing = case["data"]["filing"]
    assert filing == {"number": "示应急危险源备〔2026〕1号", "filed_on": "2026-11-04", "valid_to": "2029-11-03"}
    # the re-filing clock counts to the last valid day, from the data the filing step wrote
    assert clock_of(case, "refiling")["due_date"] == "2029-11-03"
    assert layer_row(db, place.code) == ("filed", "示应急危险源备〔2026〕1号", "2029-11-03")
    with db.connect() as conn:
        assert service.verify_chain(conn, case["id"], access=district[1])["ok"]


def test_a_second_filing_takes_the_next_number_of_the_year(db: sa.Engine, place: SimpleNamespace) -> None:
    city = caller("city_regulator")
    numbers = []
    with clock.freeze(at("2026-11-02 09:00")):
        for code, uscc in ((place.code, place.uscc), (place.other_code, place.other_uscc)):
            case = submit(db, enterprise(uscc), code)
            move(db, city, case["id"], "accept")
            numbers.append(move(db, city, case["id"], "file")["data"]["filing"]["number"])
    assert numbers == ["示应急危险源备〔2026〕1号", "示应急危险源备〔2026〕2号"]


def test_gb18218_examples_worked_by_hand_accept_and_refuse_with_the_numbers(db: sa.Engine,
                                                                           place: SimpleNamespace) -> None:
    ent = enterprise(place.uscc)
    before = counts(db)
    # declared 二级, but chlorine 30 t with 120 persons: R = α·β·q/Q = 2.0 × 4 × (30/5) = 48 → 三级 (10 ≤ R < 50)
    with pytest.raises(InvalidInput) as too_high:
        submit(db, ent, place.code, {**FILING, "declared_grade": 2})
    problem = too_high.value.to_problem()
    assert problem["input"] == "form.declared_grade" and problem["status"] == 400
    assert (problem["r_value"], problem["grade_computed"], problem["grade_declared"], problem["s_value"]) == \
        (48.0, 3, 2, 6.0)
    assert "R = α·Σ β·q/Q = 2 × 24 = 48" in too_high.value.message_en
    assert "应为三级" in too_high.value.message_zh
    # declared 三级, but 40 t: R = 2.0 × 4 × 8 = 64 → 二级: under-declaring is refused too
    with pytest.raises(InvalidInput) as too_low:
        submit(db, ent, place.code, {**FILING, "chemicals": [{"cas": "7782-50-5", "quantity_t": 40}]})
    assert (too_low.value.details["r_value"], too_low.value.details["grade_computed"]) == (64.0, 2)
    # methanol 400 t alone: S = 400/500 = 0.8 < 1 — not a major hazard source, nothing to file
    with pytest.raises(InvalidInput) as not_major:
        submit(db, ent, place.code, {**FILING, "declared_grade": 4, "chemicals": [{"name": "甲醇", "quantity_t": 400}]})
    assert not_major.value.input_name == "form.chemicals" and not_major.value.details["s_value"] == 0.8
    assert "S = Σ q/Q = 0.8 < 1" in not_major.value.message_en
    # a substance the standard does not know is named by its place in the form
    with pytest.raises(InvalidInput) as unknown:
        submit(db, ent, place.code, {**FILING, "chemicals": [*CHLORINE_30, {"cas": "7782-50-4", "quantity_t": 1}]})
    assert unknown.value.input_name == "form.chemicals[1].cas"
    with db.begin() as conn:   # a deactivated (已核销) hazard source is not filed
        conn.execute(sa.text("UPDATE hazard_sources SET status = 'deactivated' WHERE code = :c"), {"c": place.code})
    with pytest.raises(DomainError) as deactivated:
        submit(db, ent, place.code)
    assert deactivated.value.http_status == 409 and deactivated.value.code == "hazard_source_deactivated"
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE hazard_sources SET status = 'active' WHERE code = :c"), {"c": place.code})
    assert counts(db) == before   # no case, no case number, no event
    # accepted: methanol 600 t + chlorine 6 t, 60 persons: S = 1.2 + 1.2 = 2.4; R = 1.5 × (1 × 1.2 + 4 × 1.2) = 9
    # → 四级 (R < 10)
    case = submit(db, ent, place.code, {**FILING, "declared_grade": 4, "exposed_population": 60,
                                        "chemicals": [{"name": "甲醇", "quantity_t": 600},
                                                      {"cas": "7782-50-5", "quantity_t": 6}]})
    grading = case["data"]["grading"]
    assert (grading["s_value"], grading["r_value"], grading["alpha"], grading["grade_computed"]) == (2.4, 9.0, 1.5, 4)
    # the correction is graded again: a resubmission the data does not support is refused, the case unchanged
    city = caller("city_regulator")
    move(db, city, case["id"], "return_for_correction", {"items": "核对储存量"})
    with pytest.raises(InvalidInput):
        move(db, ent, case["id"], "resubmit", {**FILING, "declared_grade": 1})
    with db.connect() as conn:
        assert service.detail(conn, case["id"], access=ent[1], identity=ent[0])["state"] == "correcting"


def test_the_review_deadline_does_not_count_the_days_of_a_correction_across_national_day(
        db: sa.Engine, place: SimpleNamespace) -> None:
    """Worked by hand from the 2026 schedule (中秋节 Fri 25 September off; National Day 1–7 October off, Sat 10
    October worked).

    Submitted Wed 23 September: 10 working days from Thu 24. Returned for correction on Thu 24 September (24
    counted: 1); the clock stands still from Fri 25 September until the corrected filing on Wed 30 September, that
    day included (28, 29, 30 not counted). Then: 1–7 October holiday; Thu 8 (2), Fri 9 (3), Sat 10 (4, 调休),
    12–16 (5–9), Mon 19 (10): due Mon 19 October. Without the correction it would be due Wed 14 October (24 Sep,
    28, 29, 30 Sep, 8, 9, 10, 12, 13, 14 Oct)."""
    ent, district = enterprise(place.uscc), caller("district_regulator", district=place.district)
    with clock.freeze(at("2026-09-23 10:00")):
        case = submit(db, ent, place.code)
        assert clock_of(case, "review")["due_date"] == "2026-10-14"
        case = move(db, district, case["id"], "accept")
    with clock.freeze(at("2026-09-24 16:00")):
        case = move(db, district, case["id"], "return_for_correction", {"items": "补充储罐区平面图"})
        assert clock_of(case, "review")["due_date"] is None
    with clock.freeze(at("2026-09-30 11:00")):
        case = move(db, ent, case["id"], "resubmit", FILING)
    review = clock_of(case, "review")
    assert review["status"] == "running" and review["due_date"] == "2026-10-19"


def test_the_filing_status_api_and_the_map_follow_the_filing_until_it_runs_out(
        db: sa.Engine, fresh_db: str, place: SimpleNamespace, app_factory: Any) -> None:
    client = web(fresh_db, app_factory)
    ent, other = enterprise(place.uscc), enterprise(place.other_uscc)
    district = caller("district_regulator", district=place.district)
    path = f"/api/filings/hazard-sources/{place.code}"
    with clock.freeze(at("2026-11-02 09:00")):
        missing = client.get(path, environ_base=as_(ent))
        assert missing.status_code == 200
        assert (missing.get_json()["status"], missing.get_json()["filing"]) == ("missing", None)
        case = submit(db, ent, place.code)
        pending = client.get(path, environ_base=as_(district)).get_json()
        assert pending["status"] == "missing" and pending["pending"]["code"] == case["code"]
        move(db, district, case["id"], "accept")
        move(db, district, case["id"], "file")
        filed = client.get(path, environ_base=as_(district)).get_json()
    assert filed["status"] == "filed" and filed["status_label"] == {"zh-CN": "已备案", "en": "Filed"}
    assert filed["filing"]["number"] == "示应急危险源备〔2026〕1号" and filed["pending"] is None
    # another enterprise, and another district's regulator, do not see it; anonymous callers are asked to sign in
    assert client.get(path, environ_base=as_(other)).status_code == 404
    assert client.get(path, environ_base=as_(caller("district_regulator", district=place.other_district))
                      ).status_code == 404
    assert client.get(path).status_code == 401
    assert client.get("/api/filings/hazard-sources/bad code!", environ_base=as_(ent)).status_code == 400
    # the map: the layer row, filterable over the OGC API and listed by status
    listed = client.get("/api/filings/hazard-sources?status=filed", environ_base=as_(district)).get_json()
    assert [h["code"] for h in listed["hazard_sources"]] == [place.code] and listed["counts"]["filed"] == 1
    features = client.get("/ogcapi/collections/hazard_sources/items?f=json&filing_status=filed",
                          environ_base=as_(caller("city_regulator"))).get_json()["features"]
    assert [f["properties"]["code"] for f in features] == [place.code]
    # the feature panel's 备案 section
    with db.connect() as conn:
        feature_id = conn.execute(sa.text("SELECT id FROM hazard_sources WHERE code = :c"), {"c": place.code}).scalar()
    for lang, label in (("zh-CN", "已备案"), ("en", "Filed")):
        body = client.get(f"/api/console/features/hazard_sources/{feature_id}?lang={lang}",
                          environ_base=as_(district)).get_json()
        section = next(s for s in body["sections"] if s["id"] == "filing")
        values = [item["value"] for item in section["content"]["items"]]
        assert values[:4] == [label, "示应急危险源备〔2026〕1号", "2026-11-02", "2029-11-01"], values
    # the last valid day, and the day after: the engine's timer turns the hazard source overdue, on the map too
    # filed on Mon 2 November 2026: valid for three years, to Thu 1 November 2029
    assert filed["filing"]["valid_to"] == "2029-11-01"
    with clock.freeze(at("2029-11-01 12:00")):
        assert scheduler.run_due(db, CONFIG) >= 1   # (the warning 20 working days before, and the demo's timers)
        assert layer_row(db, place.code)[0] == "filed"
    with clock.freeze(at("2029-11-02 00:30")):
        assert scheduler.run_due(db, CONFIG) == 1
        assert layer_row(db, place.code) == ("overdue", "示应急危险源备〔2026〕1号", "2029-11-01")
        overdue = client.get(path, environ_base=as_(ent)).get_json()
        assert overdue["status"] == "overdue" and overdue["status_label"]["zh-CN"] == "备案逾期"
        bad = client.get("/api/filings/hazard-sources?status=late", environ_base=as_(district))
        assert bad.status_code == 400 and bad.get_json()["input"] == "status"


def test_another_enterprise_can_neither_file_nor_see_the_filing(db: sa.Engine, fresh_db: str, place: SimpleNamespace,
                                                                app_factory: Any) -> None:
    ent, other = enterprise(place.uscc), enterprise(place.other_uscc)
    before = counts(db)
    with pytest.raises(InvalidInput) as foreign:   # another enterprise's hazard source is no feature it can see
        submit(db, other, place.code)
    assert foreign.value.input_name == "anchor.id"
    assert counts(db) == before
    case = submit(db, ent, place.code)
    with pytest.raises(NotFound):
        with db.connect() as conn:
            service.detail(conn, case["id"], access=other[1], identity=other[0])
    with pytest.raises(NotFound):
        move(db, other, case["id"], "withdraw", {"reason": "试图撤回他人备案"})
    client = web(fresh_db, app_factory)
    listed = client.get(f"/api/cases?case_type={TYPE}", environ_base=as_(other))
    assert listed.status_code == 200 and case["code"] not in listed.get_data(as_text=True)
    assert client.get(f"/api/cases/{case['id']}", environ_base=as_(other)).status_code == 404


def test_bad_input_names_the_field_and_a_repeated_submission_opens_one_case(
        db: sa.Engine, fresh_db: str, place: SimpleNamespace, app_factory: Any) -> None:
    client = web(fresh_db, app_factory)
    ent = enterprise(place.uscc)
    anchor = {"kind": "hazard_source", "id": place.code}
    before = counts(db)
    for form, field in (({k: v for k, v in FILING.items() if k != "declared_grade"}, "declared_grade"),
                        ({**FILING, "declared_grade": 5}, "form.declared_grade"),
                        ({**FILING, "chemicals": []}, "form.chemicals"),
                        ({**FILING, "chemicals": [{"cas": "7782-50-5", "quantity_t": -1}]}, "form.chemicals.0"),
                        ({**FILING, "assessment_report_on": "2026-13-01"}, "form.assessment_report_on"),
                        ({**FILING, "declared_grade": 1}, "form.declared_grade")):
        response = client.post("/api/cases", json={"case_type": TYPE, "anchor": anchor, "form": form},
                               environ_base=as_(ent))
        assert response.status_code == 400 and response.mimetype == "application/problem+json", response.get_json()
        assert field in response.get_json()["input"], (field, response.get_json())
    assert client.post("/api/cases", json={"case_type": TYPE, "anchor": {"kind": "enterprise", "id": place.uscc},
                                           "form": FILING}, environ_base=as_(ent)).get_json()["input"] == "anchor.kind"
    assert counts(db) == before
    body = {"case_type": TYPE, "anchor": anchor, "form": FILING}
    key = {"Idempotency-Key": "0b6a4f0e-filing-hs"}
    refused = client.post("/api/cases", json={**body, "form": {**FILING, "declared_grade": 2}}, headers=key,
                          environ_base=as_(ent))
    assert refused.status_code == 400   # refused by the grading: the key is not used up
    first = client.post("/api/cases", json=body, headers=key, environ_base=as_(ent))
    again = client.post("/api/cases", json=body, headers=key, environ_base=as_(ent))
    assert (first.status_code, again.status_code) == (201, 200) and first.get_json()["id"] == again.get_json()["id"]
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases WHERE case_type = :t"), {"t": TYPE}).scalar_one() == 1


def test_a_filing_superseded_by_a_later_one_runs_out_silently(db: sa.Engine, place: SimpleNamespace) -> None:
    ent, city = enterprise(place.uscc), caller("city_regulator")
    cases = []
    for day in ("2026-11-02 09:00", "2027-06-01 09:00"):   # re-assessed and filed again the next year
        with clock.freeze(at(day)):
            case = submit(db, ent, place.code)
            move(db, city, case["id"], "accept")
            cases.append(move(db, city, case["id"], "file"))
    assert [c["data"]["filing"]["valid_to"] for c in cases] == ["2029-11-01", "2030-05-31"]
    assert layer_row(db, place.code) == ("filed", "示应急危险源备〔2027〕1号", "2030-05-31")
    with clock.freeze(at("2029-11-02 00:30")):   # the first filing's three years are over
        scheduler.run_due(db, CONFIG)
    assert layer_row(db, place.code)[0] == "filed"   # the later filing is current
    with db.connect() as conn:
        first = service.detail(conn, cases[0]["id"], access=city[1], identity=city[0])
        breach = conn.execute(sa.text("SELECT results FROM case_events WHERE case_id = :c AND action = 'clock.breach'"),
                              {"c": cases[0]["id"]}).scalar_one()
    assert first["data"]["superseded_by"] == cases[1]["code"]
    assert breach["filing_status"] == "filed" and "notified" not in breach
    with clock.freeze(at("2030-06-01 00:30")):
        scheduler.run_due(db, CONFIG)
        with db.connect() as conn:
            second = conn.execute(sa.text("SELECT results FROM case_events WHERE case_id = :c AND action = "
                                          "'clock.breach'"), {"c": cases[1]["id"]}).scalar_one()
    assert layer_row(db, place.code)[0] == "overdue" and second["notified"][0]["message"] == "重大危险源备案已到期未重新备案"
