"""The hazardous-chemicals business licence (危险化学品经营许可证) end to end on the case engine: the enterprise's
application, 受理 / 补正 / 专家评审 / 决定 by the right roles, the legal deadlines in working days (with the days of a
补正 not counted, across the National Day holiday and its 调休), the certificate and its PDF, and the public
verification that tells nothing but the status of a revoked or expired certificate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from core import clock
from core.errors import Conflict, DomainError, InvalidInput, NotFound
from supervision.cases import service
from tests.integration.cases_support import (
    at,
    caller,
    clock_of,
    enterprise_caller,
    move,
    open_case,
    two_enterprises,
)
from tests.system.test_permission_matrix import InjectIdentity, find_gate

TYPE = "hazchem_business_licence"
APPLICATION = {"business_mode": "with_storage", "business_scope": "甲醇、乙醇、丙酮（不含剧毒化学品）",
               "storage_address": "示范市化工园区纬三路8号", "principal": "张建国", "safety_manager": "李安全",
               "contact_phone": "025-88886666"}
SCOPE = "甲醇、乙醇、丙酮（不含剧毒化学品），带有储存设施经营"


@pytest.fixture
def db(fresh_db: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(fresh_db)
    yield engine
    engine.dispose()


@pytest.fixture
def place(db: sa.Engine) -> SimpleNamespace:
    return two_enterprises(db)


def applicant(place: SimpleNamespace, uscc: str | None = None) -> Any:
    return enterprise_caller(uscc or place.uscc)


def open_application(db: sa.Engine, who: Any, uscc: str, form: dict[str, Any] | None = None) -> dict[str, Any]:
    return open_case(db, who, TYPE, ("enterprise", uscc), APPLICATION if form is None else form)


def issued(db: sa.Engine, place: SimpleNamespace, day: str = "2026-10-29 10:00") -> dict[str, Any]:
    """A certificate issued to the own enterprise on ``day`` (accepted, reviewed and decided that day)."""
    city = caller("city_regulator", name="city_head")
    with clock.freeze(at(day)):
        case = open_application(db, applicant(place), place.uscc)
        move(db, city, case["id"], "accept")
        move(db, city, case["id"], "approve", {"opinion": "符合条件"})
        return move(db, city, case["id"], "issue_certificate", {"scope": SCOPE})


def web(db_url: str, app_factory: Any) -> Client:
    """A client of the whole application behind its policy gate, the caller's identity given per request."""
    app = app_factory(db_url)
    client = Client(InjectIdentity(find_gate(app)))
    client.onemap_settings = app.config["ONEMAP"]  # type: ignore[attr-defined]
    return client


def as_(who: Any) -> dict[str, Any]:
    return {"test.identity": who[0]}


# -- the case type -----------------------------------------------------------------------------------------------
def test_an_application_goes_from_the_enterprise_to_a_certificate_by_the_right_roles(db: sa.Engine,
                                                                                     place: SimpleNamespace) -> None:
    ent = applicant(place)
    district = caller("district_regulator", district=place.district, name="district_officer")
    other_district = caller("district_regulator", district=place.other_district)
    city = caller("city_regulator", name="city_head")
    with clock.freeze(at("2026-11-02 09:00")):   # a Monday
        case = open_application(db, ent, place.uscc)
        assert case["state"] == "submitted" and case["code"].startswith("XK-")
        assert case["enterprise_uscc"] == place.uscc and case["data"]["business_scope"] == APPLICATION["business_scope"]
        # 5 working days to accept or ask for the corrections once: Tue 3 .. Mon 9 November
        assert clock_of(case, "acceptance")["due_date"] == "2026-11-09"
        assert {a["id"] for a in case["actions"]} == {"withdraw"}   # the applicant cannot accept its own application
        with pytest.raises(DomainError) as own_accept:
            move(db, ent, case["id"], "accept")
        assert own_accept.value.http_status == 403
        with pytest.raises(NotFound):   # another district's regulator does not see it
            move(db, other_district, case["id"], "accept")
        case = move(db, district, case["id"], "request_correction", {"items": "缺少储存设施平面布置图"})
        assert case["state"] == "correcting" and clock_of(case, "acceptance")["status"] == "paused"
        assert case["data"]["documents"]["correction"].startswith("示应急危化许补〔2026〕")
    with clock.freeze(at("2026-11-04 09:00")):
        case = move(db, ent, case["id"], "resubmit", {"description": "已补充平面布置图"})
        assert case["state"] == "submitted" and clock_of(case, "acceptance")["status"] == "running"
        case = move(db, district, case["id"], "accept")
        assert case["state"] == "reviewing" and clock_of(case, "acceptance")["status"] == "met"
        assert clock_of(case, "decision")["status"] == "running"
        case = move(db, district, case["id"], "send_to_experts", {"experts": "王工、赵工"})
        assert case["state"] == "expert_review" and clock_of(case, "decision")["status"] == "paused"
    with clock.freeze(at("2026-11-06 09:00")):
        case = move(db, district, case["id"], "experts_done", {"opinion": "现场符合要求"})
        assert clock_of(case, "decision")["status"] == "running"
        for who in (ent, district):   # the decision is the city's
            with pytest.raises(DomainError) as refused:
                move(db, who, case["id"], "approve", {"opinion": "同意"})
            assert refused.value.http_status == 403
        case = move(db, city, case["id"], "approve", {"opinion": "符合危险化学品经营许可条件"})
        assert case["state"] == "approved" and clock_of(case, "decision")["status"] == "met"
        # the certificate within 10 working days of the decision (Fri 6 Nov): 9–13, 16–20 November
        assert clock_of(case, "certificate")["due_date"] == "2026-11-20"
        assert case["data"]["documents"]["approval"].startswith("示应急危化许准〔2026〕")
    with clock.freeze(at("2026-11-10 09:00")):
        case = move(db, city, case["id"], "issue_certificate", {"scope": SCOPE})
    assert case["state"] == "issued" and case["final"] and clock_of(case, "certificate")["status"] == "met"
    cert = case["data"]["certificate"]
    assert cert == {"number": "示应急危化经字〔2026〕000001号", "valid_from": "2026-11-10", "valid_to": "2029-11-09"}
    with db.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM permit_certificates WHERE case_id = :c"), {"c": case["id"]}).one()
        assert (row.number, row.enterprise_uscc, row.enterprise_name, row.scope, row.business_mode, row.revoked_at) \
            == (cert["number"], place.uscc, place.name, SCOPE, "with_storage", None)
        assert service.verify_chain(conn, case["id"], access=city[1])["ok"]


def test_certificate_numbers_are_gapless_even_when_an_issue_is_rolled_back(db: sa.Engine, place: SimpleNamespace,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from supervision.cases import engine

    first = issued(db, place)
    city = caller("city_regulator")
    with clock.freeze(at("2026-10-29 11:00")):
        case = open_application(db, applicant(place), place.uscc)
        move(db, city, case["id"], "accept")
        move(db, city, case["id"], "approve", {"opinion": "符合条件"})

        def fail(ctx: Any) -> None:
            raise RuntimeError("the layer row could not be written")

        monkeypatch.setattr(engine, "project", fail)
        with pytest.raises(RuntimeError):
            move(db, city, case["id"], "issue_certificate", {"scope": SCOPE})
        monkeypatch.undo()
        with db.connect() as conn:   # nothing of the failed issue stayed
            assert conn.execute(sa.text("SELECT count(*) FROM permit_certificates")).scalar_one() == 1
        second = move(db, city, case["id"], "issue_certificate", {"scope": SCOPE})
    assert first["data"]["certificate"]["number"] == "示应急危化经字〔2026〕000001号"
    assert second["data"]["certificate"]["number"] == "示应急危化经字〔2026〕000002号"


def test_the_decision_deadline_does_not_count_the_days_of_a_correction_across_national_day(
        db: sa.Engine, place: SimpleNamespace) -> None:
    """Worked by hand from the 2026 schedule (国务院办公厅: National Day 1–7 October off, Sat 10 October worked).

    Accepted Mon 21 September: the 20 working days start on the 22nd. A correction is asked for on Wed 23 September
    (22 and 23 counted: 2 days); the clock stands still from Thu 24 September until the applicant's corrections on
    Tue 29 September, that day included. From Wed 30 September: 30 Sep (3); 1–7 Oct holiday; Thu 8 (4), Fri 9 (5),
    Sat 10 (6, 调休), 12–16 (7–11), 19–23 (12–16), 26–29 (17–20): due Thu 29 October 2026.
    Without the pause it would be due sooner, so the pause matters to the date.
    Extended once by 10 working days: 30 Oct, 2–6 Nov, 9–12 Nov: due Thu 12 November."""
    ent, city = applicant(place), caller("city_regulator")
    with clock.freeze(at("2026-09-21 09:00")):
        case = open_application(db, ent, place.uscc)
        case = move(db, city, case["id"], "accept")
        unpaused = clock_of(case, "decision")["due_date"]
    with clock.freeze(at("2026-09-23 15:00")):
        case = move(db, city, case["id"], "request_supplement", {"items": "补充安全评价报告"})
        assert case["state"] == "supplementing"
        assert clock_of(case, "decision")["status"] == "paused" and clock_of(case, "decision")["due_date"] is None
    with clock.freeze(at("2026-09-29 16:00")):
        case = move(db, ent, case["id"], "supplement", {"description": "已补充安全评价报告"})
    decision = clock_of(case, "decision")
    assert decision["status"] == "running" and decision["due_date"] == "2026-10-29"
    assert unpaused < "2026-10-29"
    with clock.freeze(at("2026-10-20 09:00")):
        with pytest.raises(DomainError) as district_extends:   # the head's approval: a city regulator's step
            move(db, caller("district_regulator", district=place.district), case["id"], "extend_decision",
                 {"reason": "需现场核查", "approved_by": "局长"})
        assert district_extends.value.http_status == 403
        case = move(db, city, case["id"], "extend_decision", {"reason": "需现场核查", "approved_by": "局长"})
        assert clock_of(case, "decision")["due_date"] == date(2026, 11, 12).isoformat()
        with pytest.raises(Conflict) as twice:
            move(db, city, case["id"], "extend_decision", {"reason": "再次延长", "approved_by": "局长"})
        assert twice.value.code == "guard_failed"
    assert clock_of(case, "decision")["due_date"] == "2026-11-12"


# -- the certificate, its PDF and its verification -----------------------------------------------------------------
def test_the_certificate_pdf_carries_the_chinese_text_and_a_qr_code_of_the_verification_url(
        db: sa.Engine, fresh_db: str, place: SimpleNamespace, app_factory: Any) -> None:
    import pypdfium2
    import zxingcpp

    from core.config import public_url

    number = issued(db, place)["data"]["certificate"]["number"]
    client = web(fresh_db, app_factory)
    response = client.get(f"/api/permits/certificates/{quote(number)}/pdf", environ_base=as_(applicant(place)))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    body = response.get_data()
    # Read back with PDFium: fpdf2 maps character codes to glyphs through an embedded CMap stream (a valid /Encoding
    # of a Type0 font), which pypdf and pdfminer.six read as one-byte codes; PDFium (Chrome's reader) reads it.
    document = pypdfium2.PdfDocument(body)
    try:
        text = "".join(document[0].get_textpage().get_text_range().split())
        image = document[0].render(scale=3).to_pil()
    finally:
        document.close()
    for expected in ("危险化学品经营许可证", f"编号：{number}", f"单位名称：{place.name}",
                     f"统一社会信用代码：{place.uscc}", "经营方式：带有储存设施经营", f"许可范围：{SCOPE}",
                     "有效期：2026年10月29日至2029年10月28日", "发证机关：示应急"):
        assert "".join(expected.split()) in text, expected
    codes = [c.text for c in zxingcpp.read_barcodes(image)]
    url = public_url(client.onemap_settings) + "/verify/permits/" + quote(number, safe="")
    assert url.startswith("http") and codes == [url]
    # the URL in the code opens the public page, anonymously
    page_response = client.get(urlsplit(url).path)
    assert page_response.status_code == 200
    html = page_response.get_data(as_text=True)
    assert number in html and 'data-status="valid"' in html and place.name in html


def test_a_revoked_or_expired_certificate_shows_only_its_number_and_status(db: sa.Engine, fresh_db: str,
                                                                         place: SimpleNamespace,
                                                                         app_factory: Any) -> None:
    number = issued(db, place)["data"]["certificate"]["number"]
    client = web(fresh_db, app_factory)
    anonymous: dict[str, Any] = {}
    valid = client.get(f"/api/permits/verify/{quote(number)}", environ_base=anonymous)
    assert valid.status_code == 200
    assert valid.get_json()["status"] == "valid" and valid.get_json()["holder"] == place.name
    path = f"/api/permits/certificates/{quote(number)}/revoke"
    district = caller("district_regulator", district=place.district)
    assert client.post(path, json={"reason": "违法经营"}, environ_base=as_(district)).status_code == 403
    assert client.post(path, json={"reason": "违法经营"}, environ_base=anonymous).status_code == 401
    bad = client.post(path, json={"reason": ""}, environ_base=as_(caller("city_regulator")))
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    revoked = client.post(path, json={"reason": "存在重大违法行为，依法吊销"}, environ_base=as_(caller("city_regulator")))
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    again = client.post(path, json={"reason": "重复"}, environ_base=as_(caller("city_regulator")))
    assert again.status_code == 409
    answer = client.get(f"/api/permits/verify/{quote(number)}", environ_base=anonymous).get_json()
    assert answer == {"number": number, "status": "revoked", "status_label": {"zh-CN": "已撤销", "en": "Revoked"}}
    page = client.get(f"/verify/permits/{quote(number)}", environ_base=anonymous)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-status="revoked"' in html and number in html
    for secret in (place.name, place.uscc, "甲醇", "2029", "2026-10-29", "违法"):
        assert secret not in html and secret not in str(answer), secret


def test_an_expired_certificate_shows_only_its_number_and_status(db: sa.Engine, fresh_db: str, place: SimpleNamespace,
                                                                 app_factory: Any) -> None:
    number = issued(db, place)["data"]["certificate"]["number"]
    client = web(fresh_db, app_factory)
    with clock.freeze(at("2029-10-28 23:00")):   # the last day of the 3 years
        assert client.get(f"/api/permits/verify/{quote(number)}").get_json()["status"] == "valid"
    with clock.freeze(at("2029-10-29 08:00")):
        answer = client.get(f"/api/permits/verify/{quote(number)}").get_json()
        page = client.get(f"/verify/permits/{quote(number)}?lang=en").get_data(as_text=True)
    assert answer == {"number": number, "status": "expired", "status_label": {"zh-CN": "已过期", "en": "Expired"}}
    assert 'data-status="expired"' in page and "Expired" in page and place.name not in page
    unknown = client.get("/api/permits/verify/" + quote("示应急危化经字〔2026〕999999号"))
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"
    assert client.get("/verify/permits/nothing").status_code == 404


# -- scope and bad input -------------------------------------------------------------------------------------------
def test_an_enterprise_user_can_neither_apply_for_nor_see_another_enterprises_permit(
        db: sa.Engine, fresh_db: str, place: SimpleNamespace, app_factory: Any) -> None:
    ent = applicant(place)
    with pytest.raises((InvalidInput, DomainError)) as foreign_apply:
        open_application(db, ent, place.other_uscc)
    assert foreign_apply.value.http_status in (400, 403)
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases WHERE case_type = :t"), {"t": TYPE}).scalar_one() == 0
    theirs = issued(db, SimpleNamespace(uscc=place.other_uscc, name=place.other_name, district=place.other_district))
    number = theirs["data"]["certificate"]["number"]
    with pytest.raises(NotFound):
        with db.connect() as conn:
            service.detail(conn, theirs["id"], access=ent[1], identity=ent[0])
    with pytest.raises(NotFound):
        move(db, ent, theirs["id"], "withdraw", {"reason": "试图撤回他人申请"})
    client = web(fresh_db, app_factory)
    for path in (f"/api/permits/certificates/{quote(number)}", f"/api/permits/certificates/{quote(number)}/pdf"):
        assert client.get(path, environ_base=as_(ent)).status_code == 404, path
        assert client.get(path, environ_base=as_(applicant(place, place.other_uscc))).status_code == 200, path
        # a district regulator reads the certificates of their district only
        assert client.get(path, environ_base=as_(caller("district_regulator", district=place.district))
                          ).status_code == 404, path
        assert client.get(path, environ_base=as_(caller("district_regulator", district=place.other_district))
                          ).status_code == 200, path
    listed = client.get(f"/api/cases?case_type={TYPE}", environ_base=as_(ent))
    assert listed.status_code == 200 and theirs["code"] not in listed.get_data(as_text=True)
    # over HTTP too: the application for the other enterprise is refused and nothing is written
    response = client.post("/api/cases", json={"case_type": TYPE, "anchor": {"kind": "enterprise",
                                                                             "id": place.other_uscc},
                                               "form": APPLICATION}, environ_base=as_(ent))
    assert response.status_code in (400, 403) and response.mimetype == "application/problem+json"
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases WHERE case_type = :t"), {"t": TYPE}).scalar_one() == 1


def test_a_bad_application_names_the_field_and_writes_nothing(db: sa.Engine, fresh_db: str, place: SimpleNamespace,
                                                              app_factory: Any) -> None:
    client = web(fresh_db, app_factory)
    ent = applicant(place)

    def counts() -> tuple[int, int]:
        with db.connect() as conn:
            return (conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one(),
                    conn.execute(sa.text("SELECT count(*) FROM document_numbers")).scalar_one())

    before = counts()
    for form, field in (({k: v for k, v in APPLICATION.items() if k != "principal"}, "principal"),
                        ({**APPLICATION, "business_mode": "wholesale"}, "business_mode"),
                        ({**APPLICATION, "business_scope": "x"}, "business_scope"),
                        ({**APPLICATION, "bribe": "yes"}, "bribe")):
        response = client.post("/api/cases", json={"case_type": TYPE, "anchor": {"kind": "enterprise",
                                                                                 "id": place.uscc}, "form": form},
                               environ_base=as_(ent))
        assert response.status_code == 400 and response.mimetype == "application/problem+json", response.get_json()
        assert field in str(response.get_json()), (field, response.get_json())
    assert counts() == before


def test_a_repeated_submission_with_the_same_idempotency_key_opens_one_case(db: sa.Engine, fresh_db: str,
                                                                             place: SimpleNamespace,
                                                                             app_factory: Any) -> None:
    client = web(fresh_db, app_factory)
    ent = applicant(place)
    body = {"case_type": TYPE, "anchor": {"kind": "enterprise", "id": place.uscc}, "form": APPLICATION}
    key = {"Idempotency-Key": "7d1f3c0e-5b7a-4c55-9f0e-2b8e6a1d9c44"}
    first = client.post("/api/cases", json=body, headers=key, environ_base=as_(ent))
    again = client.post("/api/cases", json=body, headers=key, environ_base=as_(ent))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    other = client.post("/api/cases", json={**body, "form": {**APPLICATION, "principal": "王二"}}, headers=key,
                        environ_base=as_(ent))
    assert other.status_code == 409 and other.get_json()["code"] == "idempotency_key_reused"
    # a failed submission does not use its key up: nothing was opened, and the corrected one goes through
    bad_key = {"Idempotency-Key": "retry-after-a-typo"}
    bad = client.post("/api/cases", json={**body, "form": {**APPLICATION, "business_mode": "x"}}, headers=bad_key,
                      environ_base=as_(ent))
    assert bad.status_code == 400
    fixed = client.post("/api/cases", json={**body, "form": {**APPLICATION, "principal": "王二"}}, headers=bad_key,
                        environ_base=as_(ent))
    assert fixed.status_code == 201 and fixed.get_json()["id"] != first.get_json()["id"]
    assert client.post("/api/cases", json=body, headers={"Idempotency-Key": "a key with spaces"},
                       environ_base=as_(ent)).status_code == 400
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases WHERE case_type = :t"), {"t": TYPE}).scalar_one() == 2


def test_the_public_verification_is_rate_limited_per_address(fresh_db: str, demo_artifacts: Any) -> None:
    """Anonymous checks of certificate numbers, page and JSON alike, from one address: after the burst a 429 with
    Retry-After (the numbers are not there to be walked)."""
    from tests.integration.auth_support import make_app

    app = make_app(fresh_db, demo_artifacts,
                   rate_limits={"certificate_verification": {"requests": 1, "per_seconds": 600, "burst": 3}})
    client = app.test_client()
    answers = [client.get(path) for path in ("/verify/permits/X-1", "/api/permits/verify/X-2",
                                             "/verify/permits/X-3", "/api/permits/verify/X-4")]
    assert [r.status_code for r in answers] == [404, 404, 404, 429]
    assert 500 <= int(answers[-1].headers["Retry-After"]) <= 600
    assert client.get("/api/permits/verify/X-5", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404
