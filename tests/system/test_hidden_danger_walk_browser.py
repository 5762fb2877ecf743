"""One hidden danger walked end to end in a real browser, by the people who handle it, with time moved by the test
clock: a district inspector's finding on the map, the enterprise's rectification plan, the deadline passing (the
timer worker lists it for supervision: 挂牌督办 with its notice number), the enterprise's rectification report, the
district's verification that closes the case and lifts the listing — and what every other role sees of it.

Runs on its own clone of the demo city, signed in with sessions of the demo accounts (district_reg of 329902, the
enterprise user bound to the demo enterprise, city_reg, dispatcher, grid_worker of 329902, intermediary).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from core import clock
from tests.system.session_server import session_server
from tests.system.test_case_pages_browser import call, field, open_as
from tests.system.test_console_browser import browser, pages, save  # noqa: F401 - fixtures

pytestmark = pytest.mark.system

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)   # Monday 2 November 2026, 10:00 in China
USERS = ("district_reg", "enterprise", "city_reg", "dispatcher", "grid_worker", "intermediary")


@pytest.fixture(scope="module")
def server(pg_cluster: Any, template_url: str, demo_artifacts: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    def prepare(conn: sa.Connection) -> dict[str, Any]:
        from access.demo import demo_enterprise_uscc

        return {"enterprise": dict(conn.execute(sa.text(
            "SELECT id, uscc, name, district_code FROM enterprises WHERE uscc = :u"),
            {"u": demo_enterprise_uscc(conn)}).mappings().one())}

    with session_server(pg_cluster, demo_artifacts, tmp_path_factory, "t_hidden_danger_walk", users=USERS,
                        now=START, prepare=prepare) as server:
        yield server


def _submit(page, values: dict[str, str]) -> None:  # noqa: ANN001
    for name, value in values.items():
        box = field(page, name)
        target = box.locator("textarea, input, select").first
        if target.evaluate("e => e.tagName") == "SELECT":
            target.select_option(value)
        else:
            target.fill(value)
    page.locator(".action-form-box form button[type=submit]").click()


def _act(browser_, pages_, server: SimpleNamespace, user: str, case_id: int, action: str,  # noqa: ANN001
         values: dict[str, str], state: str) -> Any:
    w = open_as(browser_, server, f"/cases/{case_id}", user)
    pages_.append(w)
    page = w.page
    page.click(f'[data-action="{action}"]')
    _submit(page, values)
    page.wait_for_function("(s) => window.onemap.detail.state === s", arg=state)
    return page


def test_a_hidden_danger_from_finding_to_closure(browser, pages, server) -> None:  # noqa: ANN001, F811
    from supervision.cases import scheduler

    ent = server.enterprise
    # 1. the district inspector finds it on the map: the enterprise's feature panel, 上报隐患
    w = open_as(browser, server, "/", "district_reg")
    pages.append(w)
    page = w.page
    page.wait_for_function("() => window.onemap.cases && window.onemap.cases.enabled")
    page.evaluate("(id) => window.onemap.openFeature('enterprises', id)", ent["id"])
    section = page.locator('[data-section="cases"]')
    section.wait_for(state="attached")
    if section.get_attribute("open") is None:   # a section without open cases starts folded: unfold it
        section.locator("summary").click()
    section.locator(".case-start").first.wait_for()
    section.locator(".case-start", has_text="上报隐患").first.click()
    panel = page.locator("#case-start-panel")
    panel.locator('[data-field="title"] input').fill("液氨储罐区可燃气体报警器失效")
    panel.locator('[data-field="level"] select').select_option(label="一般隐患")
    panel.locator('[data-field="category"] select').select_option(label="危险化学品储存使用")
    panel.locator("button[type=submit]").click()
    page.wait_for_function("() => window.onemap.cases.lastCase")
    case = page.evaluate("window.onemap.cases.lastCase")
    assert case["state"] == "reported" and case["data"]["source"] == "inspection"
    assert case["anchor"] == {**case["anchor"], "kind": "enterprise", "id": ent["uscc"]}
    case_id = case["id"]

    # 2. the enterprise plans the rectification, due in a week
    page = _act(browser, pages, server, "enterprise", case_id, "submit_plan",
                {"rectify_by": "2026-11-09", "measures": "更换报警器探头并联调", "responsible_person": "王工"},
                "rectifying")
    assert "整改中" in page.locator(".case-code").inner_text()

    # 3. the deadline passes unrectified: ten days later the worker lists it for supervision (挂牌督办)
    later = START + timedelta(days=10)
    with clock.freeze(later):
        assert scheduler.run_due(server.engine, server.settings["cases"], now=later) >= 1
        status, detail = call(server, "district_reg", "GET", f"/api/cases/{case_id}")
        assert status == 200 and detail["overdue"] is True
        listing = detail["children"][0]
        assert listing["case_type"] == "supervised_listing" and listing["state"] == "listed"
        w = open_as(browser, server, f"/cases/{listing['id']}", "city_reg")
        pages.append(w)
        text = w.page.locator("body").inner_text()
        assert "督办中" in text and "示应急督〔2026〕" in text
        save(w.page, "walk-listing.png")
        with server.engine.connect() as conn:   # on the map: the listings layer and the overdue hidden danger
            assert conn.execute(sa.text("SELECT state FROM supervised_listings WHERE case_id = :c"),
                                {"c": listing["id"]}).scalar() == "listed"
            assert tuple(conn.execute(sa.text("SELECT overdue, listed FROM hidden_dangers WHERE case_id = :c"),
                                      {"c": case_id}).one()) == (True, True)

        # 4. the enterprise reports the rectification done; 5. the district verifies and closes it
        _act(browser, pages, server, "enterprise", case_id, "submit_report",
             {"completed_on": "2026-11-12", "description": "报警器已更换，联调合格"}, "verifying")
        page = _act(browser, pages, server, "district_reg", case_id, "accept", {"opinion": "复查合格，同意销号"},
                    "closed")
        assert "已销号" in page.locator(".case-code").inner_text()
        save(page, "walk-closed.png")

    # the listing was lifted by the verification; the chain of events checks out
    status, listing_now = call(server, "city_reg", "GET", f"/api/cases/{listing['id']}")
    assert listing_now["state"] == "lifted"
    status, chain = call(server, "city_reg", "GET", f"/api/cases/{case_id}/verify")
    assert chain["ok"] is True and chain["events"] == 6   # report, plan, warning, breach, report, accept

    # what every other role sees of the closed case
    for user, seen in (("city_reg", 200), ("dispatcher", 200), ("grid_worker", 200), ("enterprise", 200),
                       ("intermediary", 403)):
        status, _ = call(server, user, "GET", f"/api/cases/{case_id}")
        assert status == seen, user
    w = open_as(browser, server, f"/cases/{case_id}", "dispatcher")
    pages.append(w)
    assert w.page.locator("[data-action]").count() == 0     # reads, acts on nothing
    assert len(w.page.locator(".timeline .event").all()) == 6
