"""举报投诉 in a real browser (Chromium) against the whole app over HTTP: a member of the public, not signed in, files a
complaint on the public page (the place picked on the city's map, then coordinates copied from a phone map whose
datum they must name), gets the number and the query code once, and follows it with them; the city triages and
assigns it; the district's staff investigate and reply on the case page, where nothing of the reporter appears;
the public then reads the reply. Text typed by the reporter is shown as text everywhere (no stored scripting).

Writes, so it runs on its own clone of the demo city with the 2026 holiday schedule at a fixed time (the test clock).
A request leaving 127.0.0.1 or a console error fails the test (the deliberately refused submissions are accounted
for).
"""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from core.geo.coords import convert
from tests.system.session_server import session_server
from tests.system.test_case_pages_browser import expect_only, field, open_as
from tests.system.test_console_browser import LOCAL_HOSTS, Watched, browser, pages, save  # noqa: F401 - fixtures

pytestmark = pytest.mark.system

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 2 November 2026, 10:00 in China
DISTRICT = "329902"
NAME, PHONE = "公众张某", "13700001111"
SCRIPTED = '<img src=x id=injected onerror="window.pwned=1">消防通道被堵死，灭火器全部过期'


@pytest.fixture(scope="module")
def server(pg_cluster: Any, template_url: str, demo_artifacts: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    def prepare(conn: sa.Connection) -> dict[str, Any]:
        lon, lat = conn.execute(sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts "
                                        "WHERE code = :d) s"), {"d": DISTRICT}).one()
        return {"point": (lon, lat)}

    with session_server(pg_cluster, demo_artifacts, tmp_path_factory, "t_complaints_browser",
                        users=("city_reg", "district_reg"), now=NOW, prepare=prepare) as server:
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


def open_public(chromium: Any, server: SimpleNamespace, path: str) -> Watched:  # noqa: ANN001
    """A page as a member of the public: no cookie at all."""
    context = chromium.new_context(viewport={"width": 1000, "height": 1200}, locale="zh-CN")
    page = context.new_page()
    watched = Watched(page)

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            watched.external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.on("dialog", lambda d: watched.errors.append(f"dialog: {d.message}"))
    page.goto(server.url + path)
    page.wait_for_function("() => window.onemap && window.onemap.ready === true")
    return watched


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (40, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def test_the_public_files_and_follows_a_complaint_and_the_district_handles_it(browser, pages, server) -> None:  # noqa: ANN001, F811
    w = open_public(browser, server, "/public/complaints")
    pages.append(w)
    page = w.page
    page.select_option("#category", "hidden_danger")
    page.fill("#description", SCRIPTED)
    # a click on the city's own map fills the point in its own datum
    page.locator("#pick-map canvas").first.click(position={"x": 200, "y": 140})
    assert page.input_value("#datum") == "wgs84" and page.input_value("#lon") != ""
    page.click("#clear-point")
    # coordinates copied from a phone map (AMap: GCJ-02) without saying so: refused, next to the datum
    lon, lat = convert(*server.point, "wgs84", "gcj02")
    page.fill("#lon", f"{lon:.7f}")
    page.fill("#lat", f"{lat:.7f}")
    page.click('input[name="anonymous"][value="false"]')
    page.fill("#contact_name", NAME)
    page.fill("#contact_phone", PHONE)
    page.set_input_files("#photos", files=[{"name": "scene.png", "mimeType": "image/png", "buffer": png()}])
    page.click("#submit")
    page.wait_for_selector('.field-error[data-for="location"]:not([hidden])')
    assert "坐标系" in page.inner_text('.field-error[data-for="location"]')
    assert page.get_attribute("#datum", "aria-invalid") == "true"
    expect_only(w, 400)
    save(page, "complaint_form_refused.png")
    page.select_option("#datum", "gcj02")
    page.click("#submit")
    page.wait_for_selector("#receipt:not([hidden])")
    number, code = page.inner_text("#receipt-number"), page.inner_text("#receipt-code")
    save(page, "complaint_receipt.png")
    assert re.fullmatch(r"JB-2026-\d{6}", number) and re.fullmatch(r"(\w{4}-){3}\w{4}", code)
    assert page.evaluate("window.pwned") is None
    with server.engine.connect() as conn:
        case_id, x, y = conn.execute(sa.text("SELECT id, ST_X(geom), ST_Y(geom) FROM cases WHERE code = :n"),
                                     {"n": number}).one()
    assert (x, y) == pytest.approx(server.point, abs=1e-6)   # GCJ-02 converted back to the true place

    # the reporter follows it: a wrong code is refused like a wrong number, the right one shows the state
    page.click("#status-link")
    page.wait_for_function("() => window.onemap && window.onemap.page === 'complaint-status'")
    assert page.input_value("#number") == number
    page.fill("#code", "0000-0000-0000-0000")
    page.click("#query")
    page.wait_for_selector(".form-error:not([hidden])")
    assert page.inner_text(".form-error") == "举报编号或查询码不正确"
    expect_only(w, 404)
    page.fill("#code", code)
    page.click("#query")
    page.wait_for_selector("#result:not([hidden])")
    assert page.inner_text("#result-state") == "待受理" and page.inner_text("#result-reply") == "尚未答复"
    assert "10:00" in page.inner_text("#result-filed")   # China time, whatever the browser's zone

    # the city triages and assigns it; the district's staff handle it on the case page
    assert call(server, "city_reg", "POST", f"/api/cases/{case_id}/transitions", {"action": "accept"})[0] == 200
    status, _ = call(server, "city_reg", "POST", f"/api/cases/{case_id}/transitions",
                     {"action": "assign", "form": {"district_code": DISTRICT}})
    assert status == 200
    staff = open_as(browser, server, f"/cases/{case_id}", user="district_reg")
    pages.append(staff)
    sp = staff.page
    sp.on("dialog", lambda d: staff.errors.append(f"dialog: {d.message}"))
    sp.wait_for_function("() => window.onemap.detail && window.onemap.detail.state === 'investigating'")
    assert '<img src=x id=injected' in sp.locator(".timeline").inner_text()   # what the public typed, as text
    assert NAME not in sp.content() and PHONE not in sp.content()      # the reporter is not on the page at all
    assert sp.locator("#injected").count() == 0 and sp.evaluate("window.pwned") is None
    clock = sp.locator('tr[data-clock="reply"]').inner_text()
    assert "2026-11-23" in clock, clock   # 15 working days from Mon 2 November: 3–6, 9–13, 16–20, 23 November
    sp.click('[data-action="reply"]')
    field(sp, "findings").locator("textarea").fill("现场核查属实，已责令立即清理通道、更换灭火器")
    field(sp, "reply").locator("textarea").fill("经核查，您反映的问题属实，已责令整改完毕。<b>感谢监督</b>")
    field(sp, "substantiated").locator("select").select_option(label="属实")
    sp.locator(".action-form-box form button[type=submit]").click()
    sp.wait_for_function("() => window.onemap.detail.state === 'replied'")

    # the reporter reads the published reply, as text
    page.click("#query")
    page.wait_for_function("() => document.querySelector('#result-state').dataset.state === 'replied'")
    assert page.inner_text("#result-reply") == "经核查，您反映的问题属实，已责令整改完毕。<b>感谢监督</b>"
    assert page.locator("#result-reply b").count() == 0
    save(page, "complaint_status.png")
    assert "现场核查属实" not in page.content()                        # the internal findings stay inside
