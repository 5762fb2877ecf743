"""The dispatcher's workflow in the console, in a real browser (Chromium) against the whole app over HTTP:
接报 by a map click → the incident's panel → nearest resources (routes, isochrones) → 调派 → order and incident
moved along their lifecycles; and the same page without the emergency module's permissions shows none of it.

The workflow writes, so it runs on its own clone of the demo city (never the shared read-only one), served by its
own live server, with the demo dispatcher signed in for real (password + TOTP). As in test_console_browser.py, any
request leaving 127.0.0.1 and any console error fails a test.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from tests.conftest import free_port
from tests.integration.emergency_support import scratch_database
from tests.system.test_console_browser import (  # noqa: F401 - browser and pages are fixtures
    Watched,
    browser,
    click_lonlat,
    open_page,
    pages,
    save,
    wait_rendered,
)

pytestmark = pytest.mark.system

ALL_KINDS = "rescue_team,fire_station,hospital,depot,shelter,expert"
SCENE = (119.0, 32.0)  # 临江区, a few hundred metres from a road (the emergency tests' known point)


class InFlight:
    """WSGI wrapper counting requests being answered, so that the clone is dropped only once the server is idle
    (tiles asked for by a page that has since closed are still being drawn)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app, self.busy, self.lock = app, 0, threading.Lock()

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        with self.lock:
            self.busy += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.busy -= 1

    def wait_idle(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A live server on a writable clone, and the demo dispatcher's session on it (cookie name, value, CSRF)."""
    import pyotp
    from werkzeug.serving import make_server

    from access.demo import DEMO_PASSWORD, DEMO_USERS
    from app import create_app

    with scratch_database(pg_cluster, "t_console_dispatch") as url:
        var = tmp_path_factory.mktemp("dispatch-var")
        (var / "data").mkdir()
        (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        app = create_app({"database": {"url": url}, "paths": {"var": str(var)}, "server": {"public_url": base},
                          "logging": {"level": "WARNING", "format": "json"}})
        counted = InFlight(app)
        httpd = make_server("127.0.0.1", port, counted, threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            secret = next(u.totp_secret for u in DEMO_USERS if u.username == "dispatcher")
            status, body, headers = call(base, "POST", "/api/auth/login", {
                "username": "dispatcher", "password": DEMO_PASSWORD, "totp": pyotp.TOTP(secret).now()})
            assert status == 200, body
            name = app.config["ONEMAP_AUTH"].cookie_name
            cookies = SimpleCookie()
            for header in headers.get_all("Set-Cookie") or []:
                cookies.load(header)
            engine = sa.create_engine(url)
            yield SimpleNamespace(url=base, engine=engine,
                                  session=(name, cookies[name].value, body["csrf_token"]))
            engine.dispose()
        finally:
            httpd.shutdown()
            thread.join(timeout=10)
            counted.wait_idle()


def call(base: str, method: str, path: str, body: dict | None = None,
         session: tuple[str, str, str] | None = None) -> tuple[int, dict, object]:
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if session:
        headers.update({"Cookie": f"{session[0]}={session[1]}", "X-CSRF-Token": session[2]})
    request = urllib.request.Request(base + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}"), err.headers


def expect_only(w: Watched, status: int, count: int = 1) -> None:
    """A deliberately refused request is logged by Chromium as a console error: exactly those, nothing else."""
    expected = [e for e in w.errors if f"status of {status}" in e]
    assert len(expected) == count, w.errors
    w.errors[:] = [e for e in w.errors if e not in expected]


def test_dispatcher_takes_an_incident_from_intake_to_response(browser, pages, server) -> None:  # noqa: ANN001, F811
    w = open_page(browser, f"{server.url}/#c={SCENE[0]},{SCENE[1]}&z=15&l=basemap,incidents", server.session)
    pages.append(w)
    page = w.page
    assert page.evaluate("window.onemap.emergency.can('write')") is True

    # 接报: the button arms a map click; the form takes the rest
    page.locator("#btn-intake").click()
    intake = page.locator("#intake-panel")
    intake.wait_for()
    assert page.evaluate("document.getElementById('map').classList.contains('picking')")
    click_lonlat(page, *SCENE)
    intake.locator(".loc-text", has_text=f"{SCENE[0]:.6f}, {SCENE[1]:.6f}").wait_for(timeout=5000)
    assert page.locator("#feature-panel").is_hidden()  # the location click opened no feature
    title = "浏览器测试：示范市某仓库火灾"
    intake.locator("select[name=kind]").select_option("fire")
    intake.locator("input[name=title]").fill(title)
    intake.locator("select[name=source]").select_option("phone")
    intake.locator("input[name=injuries]").fill("2")
    save(page, "console-intake.png")
    intake.get_by_role("button", name="提交").click()

    # the new incident is on the map and its panel is open
    panel = page.locator("#feature-panel")
    panel.locator(".panel-title", has_text=title).wait_for(timeout=10_000)
    incident = page.evaluate("window.onemap.lastIncident")
    assert incident["status"] == "reported" and incident["kind"] == "fire"
    page.wait_for_function("(id) => window.onemap.layers.get('incidents').getSource().getFeatures()"
                           ".some((f) => Number(f.getId()) === id)", arg=incident["id"], timeout=10_000)
    assert intake.is_hidden()
    timeline = panel.locator("[data-section=timeline] tbody tr")
    assert timeline.count() == 1 and "快报" in timeline.first.inner_text()

    # nearest resources, ranked by drive time exactly as the API ranks them
    panel.locator(".nearest-btn").click()
    nearest = page.locator("#nearest-panel")
    rows = nearest.locator(".nearest-list > li[data-key]")
    rows.first.wait_for(timeout=15_000)
    status, api, _ = call(server.url, "GET", f"/api/emergency/nearest-resources?incident_id={incident['id']}"
                                             f"&kinds={ALL_KINDS}&limit=10", session=server.session)
    assert status == 200
    expected = [f"{r['kind']}/{r['id']}" for r in api["resources"]]
    assert len(expected) == 10
    assert [rows.nth(i).get_attribute("data-key") for i in range(rows.count())] == expected
    times = [r["travel_time_s"] for r in api["resources"]]
    assert times == sorted(times)
    assert rows.first.locator(".nr-minutes").inner_text() == f"{times[0] / 60:.1f} 分钟"
    assert page.evaluate("window.onemap.nearest.routes()") == 10  # one route per resource, drawn
    rows.nth(2).hover()
    assert page.evaluate("window.onemap.nearest.selected()") == expected[2]
    assert "selected" in rows.nth(2).get_attribute("class")

    # isochrones: four polygons (5/10/15/30 min) and their legend
    nearest.locator(".iso-toggle").check()
    page.wait_for_function("() => window.onemap.nearest.isochrones() === 4", timeout=20_000)
    assert nearest.locator(".iso-legend li").all_inner_texts() == ["5 分钟", "10 分钟", "15 分钟", "30 分钟"]

    # 调派 the first resource that is not off duty
    available = [i for i, r in enumerate(api["resources"]) if r.get("status") != "off_duty"]
    row = rows.nth(available[0])
    chosen = api["resources"][available[0]]
    row.locator(".nr-dispatch").click()
    row.locator("input[name=task]").fill("浏览器测试：赶赴现场灭火救援")
    row.get_by_role("button", name="下达").click()
    orders = panel.locator("[data-section=dispatch_orders] tbody tr")
    panel.locator("[data-section=dispatch_orders] tbody tr[data-status=dispatched]").wait_for(timeout=10_000)
    assert orders.count() == 1 and chosen["name"] in orders.first.inner_text()
    assert row.locator(".nr-dispatch").is_disabled()

    # the order moves on: dispatched → en_route
    orders.first.locator(".order-move[data-to=en_route]").click()
    panel.locator("[data-section=dispatch_orders] tbody tr[data-status=en_route]").wait_for(timeout=10_000)
    assert "出发途中" in orders.first.inner_text()

    # and the incident: reported → verified → responding
    panel.locator(".incident-move[data-to=verified]").click()
    panel.locator(".incident-actions[data-status=verified]").wait_for(timeout=10_000)
    panel.locator(".incident-move[data-to=responding]").click()
    panel.locator(".incident-actions[data-status=responding]").wait_for(timeout=10_000)
    assert panel.locator(".incident-move").all() and panel.locator(
        ".incident-move").first.get_attribute("data-to") == "under_control"
    path = f"/api/emergency/incidents/{incident['id']}"
    status, body, _ = call(server.url, "GET", path, session=server.session)
    assert status == 200 and body["status"] == "responding"
    status, body, _ = call(server.url, "GET", f"{path}/dispatch", session=server.session)
    assert [(o["resource_kind"], o["resource_id"], o["status"]) for o in body["orders"]] == [
        (chosen["kind"], chosen["id"], "en_route")]

    # a 续报 is being typed when another dispatcher moves the incident on: the page's now stale move is refused
    # with the states allowed instead, and the text typed so far survives the panel being re-read
    text = "浏览器测试续报：明火已扑灭，2人受伤送医"
    panel.locator(".follow-up-btn").click()
    panel.locator(".follow-up-form textarea[name=text]").fill(text)
    panel.locator(".follow-up-form input[name=injuries]").fill("2")
    assert call(server.url, "POST", f"{path}/transitions", {"to": "under_control"}, server.session)[0] == 200
    panel.locator(".incident-move[data-to=under_control]").click()
    panel.locator(".action-error", has_text="可变为：已结束").wait_for(timeout=10_000)
    assert panel.locator(".incident-actions").get_attribute("data-status") == "under_control"
    assert panel.locator(".follow-up-form textarea[name=text]").input_value() == text
    expect_only(w, 409)
    panel.locator(".follow-up-form").get_by_role("button", name="提交").click()
    panel.locator("[data-section=timeline] tbody tr", has_text=text).wait_for(timeout=10_000)
    assert "续报" in timeline.nth(1).inner_text() and panel.locator(".follow-up-form").is_hidden()
    # what another dispatcher reports reaches the open panel over the live stream, without a click
    other = "浏览器测试续报：另一调度员报告现场已无明火"
    assert call(server.url, "POST", f"{path}/reports", {"text": other}, server.session)[0] == 201
    # (a generous wait: this asserts that it arrives without a click, not how fast on a loaded CI machine)
    panel.locator("[data-section=timeline] tbody tr", has_text=other).wait_for(timeout=20_000)
    wait_rendered(page)
    save(page, "console-dispatch.png")
    status, body, _ = call(server.url, "GET", path, session=server.session)
    assert [r["text"] for r in body["reports"]][1:] == [text, other] and body["injuries"] == 2

    # "clear" takes routes and isochrones off the map
    nearest.locator(".nearest-clear").click()
    assert page.evaluate("[window.onemap.nearest.routes(), window.onemap.nearest.isochrones()]") == [0, 0]


def test_intake_outside_the_city_is_refused_in_the_page_language(browser, pages, server) -> None:  # noqa: ANN001, F811
    with server.engine.connect() as conn:
        west, south = conn.execute(sa.text("SELECT ST_XMin(e), ST_YMin(e) FROM (SELECT ST_Extent(geom) AS e "
                                           "FROM districts) s")).one()
    w = open_page(browser, f"{server.url}/?lang=en#c={west - 0.01},{south - 0.01}&z=12&l=basemap", server.session)
    pages.append(w)
    w.page.get_by_role("button", name="New incident").click()
    click_lonlat(w.page, west - 0.01, south - 0.01)
    intake = w.page.locator("#intake-panel")
    intake.locator(".loc-text", has_text="CGCS2000").wait_for(timeout=5000)
    intake.locator("select[name=kind]").select_option("leak")
    intake.get_by_role("button", name="Submit").click()
    error = intake.locator(".intake-error")
    error.filter(has_text="outside the city").wait_for(timeout=10_000)
    assert "不在" not in error.inner_text()
    assert "invalid" in intake.locator(".intake-location").get_attribute("class")
    expect_only(w, 400)


def test_a_role_without_emergency_write_gets_no_dispatch_actions(browser, pages, server) -> None:  # noqa: ANN001, F811
    w = open_page(browser, f"{server.url}/", None)  # the public console, not signed in
    pages.append(w)
    page = w.page
    assert page.evaluate("window.onemap.emergency.can('read') || window.onemap.emergency.can('write')") is False
    assert page.locator("#btn-intake").is_hidden()
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, button="right")
    assert page.locator("#nearest-panel").is_hidden()
    assert page.locator(".incident-move, .nr-dispatch, .order-move, .follow-up-btn").count() == 0


def usable_stock(base: str, depot_id: int, session: tuple[str, str, str]) -> dict[tuple[str, str], float]:
    """The depot's stock per (item, unit) that can be drawn (expired batches cannot)."""
    status, body, _ = call(base, "GET", f"/api/emergency/resources/depot/{depot_id}/inventory", session=session)
    assert status == 200, body
    today = time.strftime("%Y-%m-%d")
    stock: dict[tuple[str, str], float] = {}
    for line in body["items"]:
        if not line["expiry"] or line["expiry"] >= today:
            stock[(line["item"], line["unit"])] = stock.get((line["item"], line["unit"]), 0) + line["quantity"]
    return stock


def report_leak(browser, pages, server, title: str):  # noqa: ANN001, ANN201, F811 - the fixtures, passed on
    """A dispatcher reports a leak at SCENE through the console's intake: (window, feature panel, the incident)."""
    w = open_page(browser, f"{server.url}/#c={SCENE[0]},{SCENE[1]}&z=15&l=basemap,incidents", server.session)
    pages.append(w)
    page = w.page
    page.locator("#btn-intake").click()
    click_lonlat(page, *SCENE)
    intake = page.locator("#intake-panel")
    intake.locator(".loc-text", has_text="CGCS2000").wait_for(timeout=5000)
    intake.locator("select[name=kind]").select_option("leak")
    intake.locator("input[name=title]").fill(title)
    intake.get_by_role("button", name="提交").click()
    panel = page.locator("#feature-panel")
    panel.locator(".panel-title", has_text=title).wait_for(timeout=10_000)
    return w, panel, page.evaluate("window.onemap.lastIncident")


def test_dispatcher_edits_the_incident_and_requests_material(browser, pages, server) -> None:  # noqa: ANN001, F811
    title = "浏览器测试：示范市某化工厂泄漏"
    w, panel, incident = report_leak(browser, pages, server, title)
    page = w.page
    path = f"/api/emergency/incidents/{incident['id']}"

    # 编辑: the form comes prefilled with the incident as it is; the response level goes to Ⅱ
    panel.locator(".edit-btn").click()
    edit = panel.locator(".edit-form")
    page.wait_for_function("() => document.querySelector('#feature-panel .edit-form input[name=title]').value !== ''")
    assert edit.locator("input[name=title]").input_value() == title
    assert edit.locator("select[name=kind]").input_value() == "leak"
    assert edit.locator("select[name=response_level]").input_value() == ""
    edit.locator("select[name=response_level]").select_option(label="Ⅱ级")
    edit.get_by_role("button", name="保存").click()
    panel.locator("[data-section=history] tbody tr", has_text="response_level").wait_for(timeout=10_000)
    status, body, _ = call(server.url, "GET", path, session=server.session)
    assert status == 200 and body["response_level"] == 2 and body["response_level_label"].startswith("Ⅱ")
    assert body["title"] == title and body["kind"] == "leak"  # what was not touched stays
    # times read in China Standard Time, as the timeline gives them, not as stored (UTC)
    reported = dt.datetime.fromisoformat(body["reported_at"]).astimezone(dt.timezone(dt.timedelta(hours=8)))
    row = panel.locator(".attr-table tr", has_text="接报时间")
    assert row.locator("td").inner_text() == reported.strftime("%Y-%m-%d %H:%M")

    # 物资调用 from the depot nearest by drive time, for an item it has in stock
    status, nearest, _ = call(server.url, "GET", f"/api/emergency/nearest-resources?incident_id={incident['id']}"
                                                 "&kinds=depot&limit=5", session=server.session)
    assert status == 200 and nearest["resources"]
    depot = nearest["resources"][0]
    before = usable_stock(server.url, depot["id"], server.session)
    (item, unit), available = next((k, q) for k, q in before.items() if q >= 2)
    panel.locator(".material-btn").click()
    material = panel.locator(".material-form")
    material.locator("select[name=line] option").first.wait_for(state="attached", timeout=10_000)
    depots = material.locator("select[name=depot_id] option")
    assert [int(v) for v in depots.evaluate_all("(os) => os.map((o) => o.value)")] == [
        r["id"] for r in nearest["resources"]]
    assert depots.first.inner_text() == f"{depot['name']}（{depot['travel_time_s'] / 60:.1f} 分钟）"
    assert material.locator("select[name=depot_id]").input_value() == str(depot["id"])
    material.locator("select[name=line]").select_option(label=f"{item}（可用 {available:g} {unit}）")
    material.locator("input[name=quantity]").fill("2")
    material.get_by_role("button", name="提交").click()
    requests = panel.locator("[data-section=material_requests] tbody tr")
    requests.first.wait_for(timeout=10_000)
    assert requests.count() == 1
    assert all(part in requests.first.inner_text() for part in (depot["name"], item, f"2 {unit}"))
    after = usable_stock(server.url, depot["id"], server.session)
    assert after[(item, unit)] == available - 2 and {k: q for k, q in after.items() if k != (item, unit)} == {
        k: q for k, q in before.items() if k != (item, unit)}

    # more than the depot holds: 409, said in the form, and nothing drawn
    panel.locator(".material-btn").click()
    material.locator("select[name=line] option").first.wait_for(state="attached", timeout=10_000)
    material.locator("select[name=line]").select_option(label=f"{item}（可用 {available - 2:g} {unit}）")
    material.locator("input[name=quantity]").fill(f"{available - 2 + 1:g}")
    material.get_by_role("button", name="提交").click()
    material.locator(".form-error", has_text=f"库存不足：可用 {available - 2:g} {unit}").wait_for(timeout=10_000)
    assert material.is_visible() and requests.count() == 1
    save(page, "console-material.png")
    assert usable_stock(server.url, depot["id"], server.session) == after
    status, body, _ = call(server.url, "GET", f"{path}/material-requests", session=server.session)
    assert status == 200 and [(r["depot_id"], r["item"], r["quantity"]) for r in body["requests"]] == [(depot["id"], item, 2)]
    expect_only(w, 409)


def test_dispatcher_runs_an_impact_analysis_and_sees_its_zones(browser, pages, server) -> None:  # noqa: ANN001, F811
    w, panel, incident = report_leak(browser, pages, server, "浏览器测试：氯气泄漏影响分析")
    page = w.page

    panel.locator(".impact-btn").click()
    form = panel.locator(".impact-form")
    assert form.locator("select[name=model]").input_value() == "plume"  # a leak calls for the plume
    form.locator("select[name=chemical]").select_option("chlorine")
    form.locator("input[name=release_rate_g_s]").fill("2000")
    # a calm is outside the model: refused in the form, nothing stored
    form.locator("input[name=wind_speed_m_s]").fill("0.1")
    form.get_by_role("button", name="影响分析").click()
    form.locator(".impact-error", has_text="wind_speed_m_s").wait_for(timeout=10_000)
    assert "invalid" in (form.locator("input[name=wind_speed_m_s]").get_attribute("class") or "")
    expect_only(w, 400)
    form.locator("input[name=wind_speed_m_s]").fill("2")
    form.get_by_role("button", name="影响分析").click()
    form.locator(".impact-result", has_text="分析 #1").wait_for(timeout=30_000)
    run = page.evaluate("window.onemap.lastImpact")
    status, stored, _ = call(server.url, "GET", f"/api/emergency/incidents/{incident['id']}/impact/1",
                             session=server.session)
    assert status == 200 and stored["zones"] == run["zones"]
    drawn = page.evaluate("""() => {
        const layer = window.onemap.map.getLayers().getArray().find((l) => l.get('id') === '_impact');
        return layer ? layer.getSource().getFeatures().map((f) => f.get('kind')) : null; }""")
    assignments = run["evacuation"]["assignments"]
    assert sorted(drawn) == sorted(["zone"] * len(run["zones"]["features"]) + ["route", "shelter"] * len(assignments))
    assert form.locator(".impact-zones li").count() == len(run["zones"]["features"]) > 0
    panel.locator("[data-section=history] tbody tr", has_text="影响分析").wait_for(timeout=10_000)
    # the situation report opens from the result, as the signed-in dispatcher (the browser's own session)
    with page.context.expect_page() as opened:
        form.locator("a.impact-report").click()
    tab = opened.value
    pdf = page.context.request.get(tab.url)
    assert tab.url.endswith(f"/api/emergency/incidents/{incident['id']}/impact/1/report")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"
    tab.close()
    save(page, "console-impact.png")
