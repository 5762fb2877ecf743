"""危险化学品安全使用许可证: a second permit type that is data only — its case-type file and its entry in
supervision/permits/kinds.yaml — run end to end by the engine and the permit machinery the business licence uses:
the application by the enterprise, the decision by the city, the certificate with its own gapless numbers, its PDF
(the lines its kind declares, Chinese text read back, the QR code decoded) and the public verification."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from core import clock
from core.errors import NotFound
from core.manifest import manifests
from supervision.cases import registry, service
from supervision.permits import certificates, checks
from tests.integration.cases_support import CONFIG, at, caller
from tests.integration.test_permits import as_, web

TYPE = "hazchem_use_licence"
APPLICATION = {"chemicals_used": "液氯 1200 吨/年、甲醇 3000 吨/年", "site_address": "示范市化工园区纬五路18号",
               "principal": "王建设", "safety_manager": "赵安全", "contact_phone": "025-86660000",
               "assessment_report_on": "2026-09-30"}
SCOPE = "液氯、甲醇（生产使用）"


@pytest.fixture
def db(fresh_db: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(fresh_db)
    yield engine
    engine.dispose()


@pytest.fixture
def place(db: sa.Engine) -> SimpleNamespace:
    with db.connect() as conn:
        own = conn.execute(sa.text("SELECT uscc, name, district_code FROM enterprises ORDER BY uscc LIMIT 1")).one()
        other = conn.execute(sa.text("SELECT uscc FROM enterprises WHERE district_code <> :d ORDER BY uscc LIMIT 1"),
                             {"d": own.district_code}).one()
    return SimpleNamespace(uscc=own.uscc, name=own.name, district=own.district_code, other_uscc=other.uscc)


def act(db: sa.Engine, who: Any, case_id: int | None, action: str, form: dict[str, Any], uscc: str = "") -> dict:
    identity, access = who
    with db.connect() as conn:
        if case_id is None:
            return service.open_case(conn, {"case_type": TYPE, "anchor": {"kind": "enterprise", "id": uscc},
                                            "form": form}, access=access, identity=identity, config=CONFIG)
        return service.transition(conn, case_id, {"action": action, "form": form}, access=access, identity=identity,
                                  config=CONFIG)


def test_the_permit_type_is_data_only() -> None:
    permits = next(m for m in manifests() if m.name == "permits")
    assert "supervision.permits:cases/hazchem_use_licence.yaml" in permits.case_types
    assert set(permits.case_effects) == {"issue_permit_certificate"}   # the one effect both types use
    kind = certificates.kinds()[TYPE]
    assert kind["title"]["zh-CN"] == "危险化学品安全使用许可证" and kind["valid_years"] == 3
    assert [line["label"] for line in kind["lines"]] == ["单位名称", "统一社会信用代码", "许可范围", "有效期"]
    ct = registry.get(TYPE)
    issuing = ct.transition("issue_certificate").effects
    assert [(e.kind, e.spec) for e in issuing] == [("issue_permit_certificate", {"kind": TYPE})]
    assert checks.check_kinds({}) == []


def test_a_kind_the_data_does_not_declare_is_a_configuration_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = certificates.kinds()
    monkeypatch.setattr(certificates, "kinds", lambda: {
        "hazchem_business_licence": {**shipped["hazchem_business_licence"],
                                     "lines": [{"label": "法定代表人", "field": "legal_representative"}]}})
    problems = checks.check_kinds({})
    assert any("hazchem_business_licence.lines[0].field: 'legal_representative'" in p for p in problems)
    assert any("hazchem_use_licence.issue_certificate: issue_permit_certificate names unknown kind "
               "'hazchem_use_licence'" in p for p in problems)


def test_an_application_goes_to_a_certificate_of_its_own_kind(db: sa.Engine, fresh_db: str, place: SimpleNamespace,
                                                             app_factory: Any) -> None:
    import pypdfium2
    import zxingcpp

    from core.config import public_url

    ent = caller("enterprise_user", uscc=place.uscc, name="ent_use")
    district = caller("district_regulator", district=place.district)
    city = caller("city_regulator", name="city_head")
    with clock.freeze(at("2026-11-02 09:00")):
        case = act(db, ent, None, "apply", APPLICATION, place.uscc)
        assert case["state"] == "submitted" and case["code"].startswith("XKSY-")
        case = act(db, district, case["id"], "request_correction", {"items": "缺少安全评价报告"})
        assert case["data"]["documents"]["correction"] == "示应急危化使许补〔2026〕0001号"
        case = act(db, ent, case["id"], "resubmit", {"description": "已补充安全评价报告"})
        case = act(db, district, case["id"], "accept", {})
        case = act(db, city, case["id"], "approve", {"opinion": "符合危险化学品安全使用许可条件"})
        case = act(db, city, case["id"], "issue_certificate", {"scope": SCOPE})
    assert case["state"] == "issued"
    cert = case["data"]["certificate"]
    # its own numbers (the business licence's counter is another document type), three years valid
    assert cert == {"number": "示应急危化使字〔2026〕000001号", "valid_from": "2026-11-02", "valid_to": "2029-11-01"}
    client = web(fresh_db, app_factory)
    response = client.get(f"/api/permits/certificates/{quote(cert['number'])}/pdf", environ_base=as_(ent))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    document = pypdfium2.PdfDocument(response.get_data())
    try:
        text = "".join(document[0].get_textpage().get_text_range().split())
        image = document[0].render(scale=3).to_pil()
    finally:
        document.close()
    for expected in ("危险化学品安全使用许可证", f"编号：{cert['number']}", f"单位名称：{place.name}",
                     f"统一社会信用代码：{place.uscc}", f"许可范围：{SCOPE}", "有效期：2026年11月2日至2029年11月1日"):
        assert "".join(expected.split()) in text, expected
    assert "经营方式" not in text   # a line of the business licence only
    url = public_url(client.onemap_settings) + "/verify/permits/" + quote(cert["number"], safe="")
    assert [c.text for c in zxingcpp.read_barcodes(image)] == [url]
    answer = client.get(f"/api/permits/verify/{quote(cert['number'])}").get_json()
    assert answer["status"] == "valid" and answer["title"]["zh-CN"] == "危险化学品安全使用许可证"
    other = caller("enterprise_user", uscc=place.other_uscc)
    assert client.get(f"/api/permits/certificates/{quote(cert['number'])}", environ_base=as_(other)).status_code == 404
    with pytest.raises(NotFound), db.connect() as conn:
        service.detail(conn, case["id"], access=other[1], identity=other[0])
