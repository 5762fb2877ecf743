"""The records console plug-in in a real browser (Chromium) against the whole app over HTTP.

A district regulator edits an enterprise in the feature panel (编辑: a form built from the records schema, pre-filled,
sent as PATCH with the version read) and sees the new value in the panel and a row in 变更历史; a value the browser
cannot judge (an industry code outside GB/T 4754) comes back from the server and is shown next to its field, a value
the schema rules out (employees = 0) is refused before anything is sent; 停用 asks first and then deactivates. The
enterprise user gets no 编辑 but 申请变更, which opens an enterprise_change case holding only what was changed. A
regulator adds an enterprise at a map click (新增企业) and imports a file (导入): the dry run lists each problem by row
and column and writes nothing; a good file passes the check and is then imported.

Writes, so it runs on its own clone of the demo city at a fixed time, with demo users signed in by sessions made in
that database (as test_case_pages_browser.py). A request leaving 127.0.0.1 or a console error fails a test (the
deliberately refused submissions are accounted for).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from tests.system.session_server import session_server
from tests.system.test_case_pages_browser import NOW, call, expect_only, field, open_as
from tests.system.test_console_browser import (  # noqa: F401 - browser and pages are fixtures
    browser,
    pages,
    save,
)

pytestmark = pytest.mark.system

DISTRICT = "329902"
USERS = ("city_reg", "district_reg", "enterprise")


@pytest.fixture(scope="module")
def server(pg_cluster: Any, template_url: str, demo_artifacts: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    def prepare(conn: sa.Connection) -> dict[str, Any]:
        own_uscc = conn.execute(sa.text("SELECT enterprise_uscc FROM users WHERE username = 'enterprise'")).scalar_one()
        # the regulator edits an enterprise other than the enterprise user's own, in the regulator's district
        enterprise = conn.execute(sa.text(
            "SELECT id, uscc, name, phone, status FROM enterprises WHERE district_code = :d AND status = 'active' "
            "AND uscc <> :own AND NOT EXISTS (SELECT 1 FROM hazard_sources h WHERE h.enterprise_uscc = uscc "
            "AND h.status = 'active') ORDER BY uscc LIMIT 1"), {"d": DISTRICT, "own": own_uscc}).mappings().one()
        own = conn.execute(sa.text("SELECT id, uscc, name, phone FROM enterprises WHERE uscc = :u"),
                           {"u": own_uscc}).mappings().one()
        return {"enterprise": dict(enterprise), "own": dict(own)}

    with session_server(pg_cluster, demo_artifacts, tmp_path_factory, "t_records_console_browser", users=USERS,
                        now=NOW, prepare=prepare) as server:
        yield server


def district_point(server: SimpleNamespace, *, other: bool = False) -> Any:
    """A point inside the regulator's district; with ``other``, (code, point) of another district."""
    with server.engine.connect() as conn:
        code, lon, lat = conn.execute(sa.text(
            "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointOnSurface(geom) p FROM districts WHERE "
            f"code {'<>' if other else '='} :d ORDER BY code LIMIT 1) s"), {"d": DISTRICT}).one()
    return (code, (lon, lat)) if other else (lon, lat)


def open_panel(page, feature_id: int) -> Any:  # noqa: ANN001
    page.wait_for_function("() => window.onemap.records && window.onemap.records.enabled")
    page.evaluate("(id) => window.onemap.openFeature('enterprises', id)", feature_id)
    section = page.locator('[data-section="records"]')
    section.wait_for()
    return section


def test_a_district_regulator_edits_an_enterprise_in_the_panel(browser, pages, server) -> None:  # noqa: ANN001, F811
    ent = server.enterprise
    w = open_as(browser, server, "/", user="district_reg")
    pages.append(w)
    page = w.page
    patches: list[str] = []
    page.on("request", lambda r: patches.append(r.url) if r.method == "PATCH" else None)
    section = open_panel(page, ent["id"])
    labels = [b.inner_text() for b in section.locator("button").all()]
    assert labels == ["编辑", "停用", "变更历史"], labels  # no 申请变更 for a regulator
    assert page.locator("#btn-record-new").inner_text().endswith("新增企业")

    # 编辑: pre-filled from the record, only the changed field is sent, with the version read
    _, before = call(server, "district_reg", "GET", f"/api/records/enterprises/{ent['uscc']}")
    section.locator('[data-record-action="edit"]').click()
    box = page.locator("#records-panel")
    box.locator('[data-field="name"] input').wait_for()
    assert box.locator('[data-field="name"] input').input_value() == ent["name"]
    assert box.locator('[data-field="sector"] select option:checked').inner_text() in (
        "危险化学品", "烟花爆竹", "非煤矿山", "工贸")
    assert box.locator('[data-field="phone"] label').inner_text().startswith("联系电话")
    box.locator('[data-field="phone"] input').fill("0571-88886666")
    box.locator("button[type=submit]").click()
    page.wait_for_function("() => window.onemap.records.state.lastRecord?.phone === '0571-88886666'")
    saved = page.evaluate("window.onemap.records.state.lastRecord")
    assert saved["version"] == before["version"] + 1
    assert box.is_hidden()
    # the panel is re-read and shows the new number
    page.locator(".attr-table", has_text="0571-88886666").first.wait_for()
    _, history = call(server, "city_reg", "GET", f"/api/records/enterprises/{ent['uscc']}/history")
    last = history["entries"][-1]
    assert last["action"] == "updated" and last["actor"] == "district_reg"
    assert last["changes"] == {"phone": {"old": ent["phone"], "new": "0571-88886666"}}  # nothing else was sent

    # 变更历史: the newest row first, with the field's Chinese label, old → new and who
    page.locator('[data-section="records"] [data-record-action="history"]').click()
    first = box.locator(".records-history tbody tr").first
    first.wait_for()
    text = first.inner_text()
    assert "联系电话" in text and "0571-88886666" in text and "district_reg" in text and "修改" in text, text
    save(page, "records-history.png")

    # a bad value the browser cannot judge: the server's words next to the field
    page.locator('[data-section="records"] [data-record-action="edit"]').click()
    box.locator('[data-field="industry_code"] input').fill("9999")
    box.locator("button[type=submit]").click()
    page.wait_for_selector('#records-panel [data-field="industry_code"].invalid')
    message = box.locator('[data-field="industry_code"] .cf-error').inner_text()
    status, problem = call(server, "district_reg", "PATCH", f"/api/records/enterprises/{ent['uscc']}",
                           {"version": saved["version"], "industry_code": "9999"})
    assert status == 400 and message == problem["detail"] and "GB/T 4754" in message, (message, problem)
    expect_only(w, 400)
    # a value the schema rules out never leaves the browser
    sent = len(patches)
    box.locator('[data-field="industry_code"] input').fill(before["industry_code"])
    box.locator('[data-field="employees"] input').fill("0")
    box.locator("button[type=submit]").click()
    page.wait_for_selector('#records-panel [data-field="employees"].invalid')
    assert box.locator('[data-field="employees"] .cf-error').inner_text() == "不能小于 1"
    assert len(patches) == sent
    # a move out of the regulator's district: the server's 403 above the form, naming the district
    box.locator('[data-field="employees"] input').fill("30")
    foreign, (lon, lat) = district_point(server, other=True)
    box.locator('[data-field="lon"] input').fill(f"{lon:.7f}")
    box.locator('[data-field="lat"] input').fill(f"{lat:.7f}")
    box.locator("button[type=submit]").click()
    page.wait_for_function("() => document.querySelector('#records-panel .form-error')?.textContent.length > 0")
    refusal = box.locator(".form-error").inner_text()
    assert foreign in refusal and "无权" in refusal, refusal
    expect_only(w, 403)
    box.locator(".form-cancel").click()

    # 停用 asks first; the panel then offers 启用
    page.locator('[data-section="records"] [data-record-action="deactivate"]').click()
    assert "确定停用企业" in box.locator(".confirm-text").inner_text()
    box.locator("#rec-reason").fill("企业已搬迁")
    box.locator("button[type=submit]").click()
    page.locator('[data-section="records"] [data-record-action="reactivate"]').wait_for()
    _, record = call(server, "city_reg", "GET", f"/api/records/enterprises/{ent['uscc']}")
    assert record["status"] == "deactivated" and record["version"] == saved["version"] + 1
    w.assert_clean()


def test_the_enterprise_user_requests_a_change_instead(browser, pages, server) -> None:  # noqa: ANN001, F811
    own = server.own
    w = open_as(browser, server, "/", user="enterprise")
    pages.append(w)
    page = w.page
    section = open_panel(page, own["id"])
    section.locator('[data-record-action="request"]').wait_for()
    labels = [b.inner_text() for b in section.locator("button").all()]
    assert labels == ["变更历史", "申请变更"], labels
    assert page.locator("#btn-record-new").count() == 0 and page.locator("#btn-record-import").count() == 0
    # the cases plug-in's 发起 buttons (it may report a hidden danger) leave the change request to 申请变更
    starts = page.locator(".case-starts")
    starts.wait_for(state="attached")   # in the 办理中案件 section, folded
    texts = [b.text_content() for b in starts.locator("button").all()]
    assert texts and not [b for b in texts if "变更" in b], texts
    section.locator('[data-record-action="request"]').click()
    box = page.locator("#records-panel")
    box.locator(".float-title", has_text=own["name"]).wait_for()  # after the record (and its version) is read
    assert field(page, "name").locator("input").input_value() == own["name"]  # pre-filled, no version to type
    assert field(page, "version").count() == 0 and field(page, "sector").count() == 0
    box.locator('[data-field="phone"] input').fill("0571-12345678")
    box.locator('[data-field="reason"] input').fill("联系电话变更")
    box.locator("button[type=submit]").click()
    page.wait_for_function("() => window.onemap.records.state.lastCase")
    created = page.evaluate("window.onemap.records.state.lastCase")
    status, case = call(server, "city_reg", "GET", f"/api/cases/{created['id']}")
    assert status == 200, case
    assert case["case_type"] == "enterprise_change" and case["state"] == "submitted"
    assert case["anchor"]["kind"] == "enterprise" and case["anchor"]["id"] == own["uscc"]
    _, record = call(server, "city_reg", "GET", f"/api/records/enterprises/{own['uscc']}")
    assert case["data"]["changes"] == {"phone": "0571-12345678"} and case["data"]["version"] == record["version"]
    assert case["data"]["reason"] == "联系电话变更"
    assert record["phone"] == own["phone"]  # not changed until a regulator approves
    w.assert_clean()




def test_a_regulator_adds_an_enterprise_at_a_map_click_and_imports_a_file(browser, pages, server) -> None:  # noqa: ANN001, F811
    from core.uscc import make_uscc
    from tests.system.test_console_browser import click_lonlat

    w = open_as(browser, server, "/", user="district_reg")
    pages.append(w)
    page = w.page
    page.wait_for_function("() => window.onemap.records && window.onemap.records.enabled")
    lon, lat = district_point(server)
    uscc = make_uscc(DISTRICT, "MB000001")

    # 新增企业: the location comes from a click on the map (the click opens no feature panel)
    page.click("#btn-record-new")
    box = page.locator("#records-panel")
    box.locator('[data-field="uscc"] input').wait_for()
    box.locator(".rec-pick").click()
    click_lonlat(page, lon, lat)
    page.wait_for_function("() => document.querySelector('#records-panel [data-field=\"lon\"] input').value !== ''")
    picked = float(box.locator('[data-field="lon"] input').input_value())
    assert abs(picked - lon) < 1e-3, (picked, lon)
    for name, value in (("uscc", uscc), ("name", "一张图新增测试企业"), ("industry_code", "2614"),
                        ("employees", "25"), ("address", "示范路 1 号"), ("legal_representative", "王五")):
        box.locator(f'[data-field="{name}"] input').fill(value)
    box.locator('[data-field="sector"] select').select_option(label="危险化学品")
    box.locator('[data-field="risk_colour"] select').select_option(label="低风险（蓝）")
    box.locator("button[type=submit]").click()
    page.wait_for_function("(u) => window.onemap.records.lastRecord?.uscc === u", arg=uscc)
    status, record = call(server, "city_reg", "GET", f"/api/records/enterprises/{uscc}")
    assert status == 200 and record["district_code"] == DISTRICT and record["employees"] == 25
    assert abs(record["lon"] - lon) < 1e-3 and abs(record["lat"] - lat) < 1e-3

    # 导入: a bad file is checked and its problems listed by row and column; nothing is written
    header = "uscc,name,industry_code,sector,employees,address,legal_representative,risk_colour,lon,lat"
    good = make_uscc(DISTRICT, "MB000002")
    rows = [f"{good},导入测试企业甲,2614,hazchem,12,示范路 2 号,赵六,blue,{lon},{lat}",
            f"{make_uscc(DISTRICT, 'MB000003')},导入测试企业乙,2614,hazchem,0,示范路 3 号,钱七,blue,{lon},{lat}"]
    page.click("#btn-record-import")
    form = box.locator("form.rec-import")
    form.wait_for()
    form.locator("#rec-import-file").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": "\n".join([header, *rows]).encode()})
    form.locator(".rec-dry-run").click()
    problems = form.locator(".rec-import-problems tbody tr")
    problems.first.wait_for()
    assert problems.count() == 1
    cells = [c.inner_text() for c in problems.first.locator("td").all()]
    assert cells[0] == "3" and cells[1] == "employees", cells  # the spreadsheet's row number and the column
    assert form.locator(".rec-do-import").is_disabled()
    expect_only(w, 422)
    assert call(server, "city_reg", "GET", f"/api/records/enterprises/{good}")[0] == 404

    # a good file: the check passes and writes nothing, then the import writes it
    form.locator("#rec-import-file").set_input_files(
        {"name": "good.csv", "mimeType": "text/csv", "buffer": "\n".join([header, rows[0]]).encode()})
    form.locator(".rec-dry-run").click()
    form.locator(".ok", has_text="检查通过").wait_for()
    assert call(server, "city_reg", "GET", f"/api/records/enterprises/{good}")[0] == 404
    form.locator(".rec-do-import").click()
    form.locator(".ok", has_text="已导入 1 条记录").wait_for()
    status, imported = call(server, "city_reg", "GET", f"/api/records/enterprises/{good}")
    assert status == 200 and imported["name"] == "导入测试企业甲"
    save(page, "records-import.png")
    w.assert_clean()
