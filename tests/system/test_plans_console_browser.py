"""Emergency plans in the console's incident panel, in a real browser against the whole app over HTTP: a leak
with three deaths → the demo city's 危险化学品事故专项应急预案 offered with Ⅲ suggested and its trigger → a
different level without a reason is refused in the form → Ⅲ activated → its actions are the panel's 处置任务,
the plan's resources are proposed and one is dispatched → a task marked done. As in test_console_browser.py, any
request leaving 127.0.0.1 and any unexpected console error fails the test.
"""

from __future__ import annotations

import pytest

from tests.system.test_console_browser import browser, pages, save  # noqa: F401 - fixtures
from tests.system.test_console_dispatch_browser import call, expect_only, report_leak, server  # noqa: F401

pytestmark = pytest.mark.system
CITY_PLAN = "示范市危险化学品事故专项应急预案"


def test_dispatcher_activates_the_plan_the_panel_suggests(browser, pages, server) -> None:  # noqa: ANN001, F811
    w, panel, incident = report_leak(browser, pages, server, "浏览器测试：预案启动")
    page, path = w.page, f"/api/emergency/incidents/{incident['id']}"
    status, _, _ = call(server.url, "POST", f"{path}/reports", {"text": "现场3人死亡", "casualties": {"deaths": 3}},
                        session=server.session)
    assert status == 201
    # the live event re-reads the panel: wait for it, so that no re-read lands in the middle of the steps below
    panel.locator("[data-section=timeline] tbody tr", has_text="续报 #2").wait_for(timeout=10_000)

    panel.locator(".plans-btn").click()
    item = panel.locator(".plan-item", has_text=CITY_PLAN)
    item.wait_for(timeout=10_000)
    assert "死亡人数 ≥ 3 人 → Ⅲ级" in item.locator(".plan-suggestion").inner_text()
    form = item.locator(".plan-activate")
    assert form.locator("select[name=level]").input_value() == "3"

    # another level needs a reason: refused in the form, nothing activated
    form.locator("select[name=level]").select_option("2")
    form.get_by_role("button", name="启动预案").click()
    form.locator(".plan-error", has_text="reason").wait_for(timeout=10_000)
    expect_only(w, 400)
    status, tasks, _ = call(server.url, "GET", f"{path}/tasks", session=server.session)
    assert status == 200 and tasks["tasks"] == []

    form.locator("select[name=level]").select_option("3")
    form.get_by_role("button", name="启动预案").click()
    rows = panel.locator("[data-section=tasks] tbody tr")
    rows.first.wait_for(timeout=10_000)
    assert rows.count() == 2 and "危化救援队伍赶赴现场处置" in rows.nth(1).inner_text()
    item = panel.locator(".plan-item", has_text=CITY_PLAN)
    item.locator(".plan-activated").wait_for(timeout=10_000)
    panel.locator("[data-section=history] tbody tr", has_text="启动应急预案").wait_for(timeout=10_000)

    # a resource of the plan, proposed for dispatch, sent from the list
    item.locator(".plan-dispatch[data-kind=shelter]").first.click()
    panel.locator("[data-section=dispatch_orders] tbody tr").first.wait_for(timeout=10_000)
    status, orders, _ = call(server.url, "GET", f"{path}/dispatch", session=server.session)
    assert status == 200 and [o["resource_kind"] for o in orders["orders"]] == ["shelter"]

    panel.locator("[data-section=tasks] tbody tr").first.locator(".task-toggle").click()
    panel.locator("[data-section=tasks] tbody tr", has_text="已完成").wait_for(timeout=10_000)
    status, tasks, _ = call(server.url, "GET", f"{path}/tasks", session=server.session)
    assert [t["done_by"] for t in tasks["tasks"]] == ["dispatcher", None]
    save(page, "console-plans.png")
