"""The case pages and the cases console plug-in in a real browser (Chromium) against the whole app over HTTP.

The form renderer: a transition's JSON Schema becomes a form with its required fields marked; the browser refuses
an incomplete form without asking the server; a form the server refuses shows the server's words next to the field
it names (or above the form when it names none); a good form moves the case, and the page shows the new state, the
timeline, the issued 文号 and the deadline in working days. The work list shows the server's counts; the console
shows the 待办 badge, the feature panel's open cases as links and starts a case with the same form.

Writes, so it runs on its own clone of the demo city with the 2026 holiday schedule, at a fixed time (the test clock),
with demo users signed in by sessions made in that database. As in test_console_browser.py, a request leaving
127.0.0.1 or a console error fails a test (the deliberately refused submissions are accounted for).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from tests.system.session_server import session_server
from tests.system.test_console_browser import (  # noqa: F401 - browser and pages are fixtures
    LOCAL_HOSTS,
    Watched,
    browser,
    pages,
    save,
    set_view,
)

pytestmark = pytest.mark.system

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 2 November 2026, 10:00 in China
DISTRICT = "329902"


@pytest.fixture(scope="module")
def server(pg_cluster: Any, template_url: str, demo_artifacts: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    def prepare(conn: sa.Connection) -> dict[str, Any]:
        return {"enterprise": dict(conn.execute(sa.text(
            "SELECT id, uscc, name, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM enterprises WHERE district_code = :d "
            "ORDER BY uscc LIMIT 1"),
            {"d": DISTRICT}).mappings().one())}

    with session_server(pg_cluster, demo_artifacts, tmp_path_factory, "t_case_pages_browser", users=("city_reg",),
                        now=NOW, prepare=prepare) as server:
        yield server


def call(server: SimpleNamespace, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    name, cookie, csrf = server.session[user]
    request = urllib.request.Request(server.url + path, method=method, data=None if body is None else
                                     json.dumps(body).encode(), headers={
                                         "Accept": "application/json", "Content-Type": "application/json",
                                         "Cookie": f"{name}={cookie}", "X-CSRF-Token": csrf})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def report(server: SimpleNamespace, title: str) -> dict[str, Any]:
    status, case = call(server, "city_reg", "POST", "/api/cases", {
        "case_type": "hidden_danger", "action": "report",
        "anchor": {"kind": "enterprise", "id": server.enterprise["uscc"]},
        "form": {"title": title, "level": "general", "category": "equipment"}})
    assert status == 201, case
    return case


def open_as(chromium, server: SimpleNamespace, path: str, user: str = "city_reg") -> Watched:  # noqa: ANN001
    """Like test_console_browser.open_page, with the session cookie set for the whole site (a cookie given for a
    page below /cases would not reach /api)."""
    from urllib.parse import urlsplit

    context = chromium.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN")
    name, cookie, _csrf = server.session[user]
    context.add_cookies([{"name": name, "value": cookie, "url": server.url + "/"}])
    page = context.new_page()
    watched = Watched(page)

    def guard(route) -> None:  # noqa: ANN001
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            watched.external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.on("response", lambda r: watched.responses.append((r.status, r.url)))
    page.goto(server.url + path)
    page.wait_for_function("() => window.onemap && window.onemap.ready === true")
    return watched


def png() -> bytes:
    """A small real PNG (the server sniffs the type from the bytes)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def expect_only(w: Watched, status: int, count: int = 1) -> None:
    """A deliberately refused request is logged by Chromium as a console error: exactly those, nothing else."""
    expected = [e for e in w.errors if f"status of {status}" in e]
    assert len(expected) == count, w.errors
    w.errors[:] = [e for e in w.errors if e not in expected]


def field(page, name: str):  # noqa: ANN001, ANN201
    return page.locator(f'[data-field="{name}"]')


def test_the_form_shows_the_servers_refusal_next_to_the_field(browser, pages, server) -> None:  # noqa: ANN001, F811
    case = report(server, "储罐区防火堤破损（表单测试）")
    w = open_as(browser, server, f"/cases/{case['id']}")
    pages.append(w)
    page = w.page
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and "/transitions" in r.url else None)
    assert page.locator(".case-code .code").inner_text() == case["code"]
    page.click('[data-action="order_rectification"]')
    form = page.locator(".action-form-box form")
    # required fields are marked, the long text is a textarea, the deadline a date input
    assert field(page, "rectify_by").locator(".req").count() == 1
    assert field(page, "requirements").locator("textarea").count() == 1
    assert field(page, "rectify_by").locator("input[type=date]").count() == 1

    form.locator("button[type=submit]").click()  # empty: the browser says so, the server is not asked
    assert "invalid" in (field(page, "rectify_by").get_attribute("class") or "")
    assert field(page, "requirements").locator(".cf-error").inner_text() == "请填写此项"
    assert posts == []

    field(page, "rectify_by").locator("input").fill("2026-11-30")
    field(page, "requirements").locator("textarea").fill("立即修复防火堤，恢复围堰完整")

    # the server refuses a form the browser let through: its words appear next to the field it names
    def corrupt(route) -> None:  # noqa: ANN001
        body = json.loads(route.request.post_data)
        body["form"]["rectify_by"] = "2026-11-31"  # no such day
        route.continue_(post_data=json.dumps(body))

    moves = re.compile(r"/api/cases/\d+/transitions(\?|$)")  # (a glob would miss the ?lang= of the request)
    page.route(moves, corrupt)
    form.locator("button[type=submit]").click()
    page.wait_for_selector('[data-field="rectify_by"].invalid')
    message = field(page, "rectify_by").locator(".cf-error").inner_text()
    assert "整改期限" in message and message != "请填写此项", message
    assert field(page, "rectify_by").locator("input").get_attribute("aria-invalid") == "true"
    assert "invalid" not in (field(page, "requirements").get_attribute("class") or "")
    assert form.locator(".form-error").inner_text() == ""
    page.unroute(moves)
    expect_only(w, 400)
    assert len(posts) == 1

    # a refusal that names no field (the guard: the deadline must be after today) is shown above the form
    field(page, "rectify_by").locator("input").fill("2026-11-01")
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => document.querySelector('.action-form-box .form-error')?.textContent.length > 0")
    assert "整改期限须晚于今天" in form.locator(".form-error").inner_text()
    assert "invalid" not in (field(page, "rectify_by").get_attribute("class") or "")
    expect_only(w, 409)

    # a good form moves the case: new state, a second event, the 文号 and the deadline in working days
    field(page, "rectify_by").locator("input").fill("2026-11-30")
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => window.onemap.detail.state === 'rectifying' && window.onemap.events.length === 2")
    assert page.locator(".action-form-box form").count() == 0
    assert "整改中" in page.locator(".case-code").inner_text()
    assert re.search(r"隐改〔2026〕\d{4}号", page.locator(".case-documents").inner_text())
    timeline = page.locator(".timeline .event").nth(1).inner_text()
    assert "责令限期整改" in timeline and "立即修复防火堤" in timeline and "2026-11-30" in timeline
    rectify = page.locator('tr[data-clock="rectify"]').inner_text()
    # 3–30 November 2026: twenty weekdays, no holiday
    assert "2026-11-30" in rectify and "20 个工作日" in rectify, rectify

    # an attachment is uploaded first (POST /api/cases/files) and sent by its sha256; the timeline links it
    page.click('[data-action="submit_report"]')
    field(page, "completed_on").locator("input").fill("2026-11-02")
    field(page, "description").locator("textarea").fill("防火堤已修复，围堰完整")
    field(page, "photos").locator("input[type=file]").set_input_files(
        files=[{"name": "after.png", "mimeType": "image/png", "buffer": png()}])
    field(page, "photos").locator(".uploads li").wait_for()
    assert "after.png" in field(page, "photos").inner_text()
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => window.onemap.detail.state === 'verifying' && window.onemap.events.length === 3")
    photo = page.locator(".timeline .event").nth(2).locator('a[href*="/api/cases/files/"]')
    assert photo.count() == 1
    status, _ = call(server, "city_reg", "GET", "/api/cases/" + str(case["id"]))
    assert status == 200
    save(page, "case-page.png")


def test_work_list_counts_and_rows_come_from_the_engine(browser, pages, server) -> None:  # noqa: ANN001, F811
    case = report(server, "配电室堆放杂物（工作台测试）")
    _, counts = call(server, "city_reg", "GET", "/api/cases/counts")
    w = open_as(browser, server, "/cases?list=todo")
    pages.append(w)
    page = w.page
    for key in ("todo", "done", "overdue", "due_soon"):
        assert page.locator(f'[data-count="{key}"]').inner_text() == str(counts[key]), key
    page.select_option("#filters [name=type]", "hidden_danger")
    page.select_option("#filters [name=state]", "reported")
    # the list is re-read with both filters: only reported hidden dangers, ours among them
    page.wait_for_function("""(code) => { const items = window.onemap.items || [];
        return items.some((i) => i.code === code) && items.every((i) => i.state === 'reported'); }""", arg=case["code"])
    assert "type=hidden_danger" in page.url and "state=reported" in page.url
    row = page.locator(f'tr[data-case-id="{case["id"]}"]')
    text = row.inner_text()
    assert "待制定整改方案" in text and server.enterprise["uscc"] in text
    assert "2026-11-09 · 5 个工作日" in text  # the plan is due 5 working days after Monday 2 November
    row.locator("a").click()
    page.wait_for_function("() => window.onemap?.page === 'case' && window.onemap.ready")
    assert page.locator("#case-title").inner_text() == case["title"]
    page.click("#lang-link")  # English, same case
    page.wait_for_function("() => window.onemap?.page === 'case' && window.onemap.ready")
    assert "lang=en" in page.url and "Awaiting plan" in page.locator(".case-code").inner_text()
    assert page.locator("#h-timeline").inner_text() == "Timeline"


def test_console_badge_panel_cases_and_starting_a_case(browser, pages, server) -> None:  # noqa: ANN001, F811
    case = report(server, "消防通道被占用（一张图测试）")
    _, counts = call(server, "city_reg", "GET", "/api/cases/counts")
    w = open_as(browser, server, "/")
    pages.append(w)
    page = w.page
    page.wait_for_function("() => window.onemap.cases && window.onemap.cases.enabled")
    assert page.locator("#cases-todo .badge").inner_text() == str(counts["todo"])
    assert page.locator("#cases-todo").get_attribute("href").endswith("cases?lang=zh-CN&list=todo")

    page.evaluate("(id) => window.onemap.openFeature('enterprises', id)", server.enterprise["id"])
    section = page.locator('[data-section="cases"]')
    section.locator(f'a[href*="/cases/{case["id"]}"]').wait_for()
    row = section.locator("tbody tr", has=page.locator(f'a[href*="/cases/{case["id"]}"]'))
    assert "待制定整改方案" in row.inner_text() and "2026-11-09" in row.inner_text()  # state label, plan deadline
    start = section.locator(".case-start")
    assert start.count() >= 1 and "上报隐患" in start.first.inner_text()
    start.first.click()
    panel = page.locator("#case-start-panel")
    assert panel.is_visible() and server.enterprise["name"] in panel.inner_text()
    panel.locator('[data-field="title"] input').fill("危化品仓库通风不良（一张图发起）")
    panel.locator('[data-field="level"] select').select_option(label="一般隐患")
    panel.locator('[data-field="category"] select').select_option(label="作业场所")
    panel.locator("button[type=submit]").click()
    page.wait_for_function("() => window.onemap.cases.lastCase && !document.querySelector('#case-start-panel:not([hidden])')")
    created = page.evaluate("window.onemap.cases.lastCase")
    assert created["anchor"]["kind"] == "enterprise" and created["anchor"]["id"] == server.enterprise["uscc"]
    assert created["state"] == "reported" and created["title"] == "危化品仓库通风不良（一张图发起）"
    section.locator(f'a[href*="/cases/{created["id"]}"]').wait_for()  # the panel re-read lists it
    page.wait_for_function("(n) => document.querySelector('#cases-todo .badge').textContent === String(n)",
                           arg=counts["todo"] + 1)
    save(page, "console-cases.png")

    # 隐患上报 at a point: the next map click is the place (no feature panel opens), the same form follows
    page.click("#btn-case-report")
    assert page.locator("#btn-case-report").get_attribute("aria-pressed") == "true"
    lon, lat = server.enterprise["lon"], server.enterprise["lat"]  # a place inside the district, for certain
    set_view(page, lon, lat, 15)
    x, y = page.evaluate("(ll) => window.onemap.getPixelFromLonLat(ll)", [lon, lat])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    panel.wait_for(state="visible")
    assert "CGCS2000" in panel.inner_text()
    panel.locator('[data-field="title"] input').fill("路边违规停放危化品运输车（地图上报）")
    panel.locator('[data-field="level"] select').select_option(label="重大隐患")
    panel.locator('[data-field="category"] select').select_option(label="危险化学品储存使用")
    panel.locator("button[type=submit]").click()
    page.wait_for_function("(id) => window.onemap.cases.lastCase.id !== id", arg=created["id"])
    point = page.evaluate("window.onemap.cases.lastCase")
    assert point["anchor"]["kind"] == "point" and point["district_code"] == DISTRICT
    assert abs(point["lon"] - lon) < 1e-4 and abs(point["lat"] - lat) < 1e-4
