"""The console and the large screen in a real browser (Chromium) against the whole app over HTTP.

Every test fails when the page logs an error or when any request leaves 127.0.0.1 (such requests are aborted
and recorded). Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import io
import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.system

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # `make test` installs Chromium (scripts/install-system.sh --test): a missing browser is a failure, not a skip
    assert Path(CHROMIUM).exists(), "Chromium is not installed: run scripts/install-system.sh --test"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def signed_in(request: pytest.FixtureRequest) -> tuple[str, str, str] | None:
    """(cookie name, session cookie, CSRF token) of the demo dispatcher, or None in a build without sign-in.

    Sessions live in the database, so the session opened by ``dispatcher_session`` is valid on the live server too.
    """
    try:
        cookie, csrf = request.getfixturevalue("dispatcher_session")
    except pytest.FixtureLookupError:
        return None
    from core.config import load_config

    return load_config(environ={})["auth"]["session"]["cookie_name"], cookie, csrf


@dataclass
class Watched:
    page: object
    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.external == [], f"requests left 127.0.0.1: {self.external}"
        assert self.errors == [], f"browser console errors: {self.errors}"

    def tile_responses(self, fragment: str) -> list[int]:
        return [status for status, url in self.responses if fragment in url]


def open_page(browser, url: str, signed_in: tuple[str, str, str] | None, width: int = 1600,  # noqa: ANN001
              height: int = 900) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    if signed_in:
        context.add_cookies([{"name": signed_in[0], "value": signed_in[1], "url": url}])
    page = context.new_page()
    watched = Watched(page)

    def guard(route) -> None:  # noqa: ANN001
        host = urlsplit(route.request.url).hostname or ""
        # chrome: and chrome-extension: are the browser's own pages (its PDF viewer), never the network
        if route.request.url.startswith(("data:", "blob:", "chrome:", "chrome-extension:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            watched.external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.on("response", lambda r: watched.responses.append((r.status, r.url)))
    page.goto(url)
    page.wait_for_function("() => window.onemap && window.onemap.ready === true")
    return watched


@pytest.fixture
def pages(browser) -> Iterator[list[Watched]]:  # noqa: ANN001
    opened: list[Watched] = []
    yield opened
    for w in opened:
        w.page.context.close()
    for w in opened:  # whatever the test asserted, a leak or an error fails it
        w.assert_clean()


def wait_rendered(page) -> None:  # noqa: ANN001
    page.wait_for_function("() => window.onemap.renderComplete === true", timeout=30_000)


def set_view(page, lon: float, lat: float, zoom: float) -> None:  # noqa: ANN001
    page.evaluate("""([lon, lat, zoom]) => {
        const m = window.onemap.map, v = m.getView();
        window.onemap.renderComplete = false;
        v.setCenter(ol.proj.fromLonLat([lon, lat], v.getProjection())); v.setZoom(zoom);
    }""", [lon, lat, zoom])
    wait_rendered(page)


def map_image(page):  # noqa: ANN001, ANN201
    from PIL import Image

    return Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")


def changed_fraction(a, b) -> float:  # noqa: ANN001
    from PIL import ImageChops

    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 24 else 0)
    return sum(diff.histogram()[255:]) / (a.width * a.height)


def save(page, name: str) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def click_lonlat(page, lon: float, lat: float, button: str = "left") -> None:  # noqa: ANN001
    x, y = page.evaluate("(ll) => window.onemap.getPixelFromLonLat(ll)", [lon, lat])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y, button=button)


def click_feature(page, lon: float, lat: float) -> str:  # noqa: ANN001
    """Click the map at lon/lat and return the title of the feature panel that opens."""
    click_lonlat(page, lon, lat)
    title = page.locator("#feature-panel .panel-title")
    title.wait_for(timeout=5000)
    return title.inner_text()


def isolated_enterprise(db: sa.Engine) -> sa.Row:
    """An enterprise with no other enterprise, hazard source or incident within 120 m (an unambiguous click)."""
    with db.connect() as conn:
        return conn.execute(sa.text("""
            SELECT e.id, e.uscc, e.name, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat FROM enterprises e
            WHERE NOT EXISTS (SELECT 1 FROM enterprises o WHERE o.id <> e.id
                              AND ST_DWithin(o.geom::geography, e.geom::geography, 120))
              AND NOT EXISTS (SELECT 1 FROM hazard_sources h WHERE ST_DWithin(h.geom::geography, e.geom::geography, 120))
              AND NOT EXISTS (SELECT 1 FROM incidents i WHERE ST_DWithin(i.geom::geography, e.geom::geography, 120))
            ORDER BY e.id LIMIT 1""")).one()


# -- console ---------------------------------------------------------------------------------------------------

def test_console_loads_the_demo_city(browser, pages, live_server: str, signed_in) -> None:  # noqa: ANN001
    w = open_page(browser, f"{live_server}/", signed_in)
    pages.append(w)
    wait_rendered(w.page)
    basemap = w.tile_responses("/tiles/wmts/basemap/webmercator/")
    mvt = w.tile_responses("/ogcapi/collections/enterprises/tiles/WebMercatorQuad/")
    assert basemap and set(basemap) == {200}, basemap
    assert mvt and set(mvt) <= {200, 204} and 200 in mvt, mvt
    image = map_image(w.page)
    colours = image.resize((64, 36)).getcolors(64 * 36)
    assert colours and len(colours) > 50, "the map canvas looks blank"
    stats = w.page.evaluate("window.onemap.loadStats")
    assert stats["tilesFailed"] == 0 and stats["featureErrors"] == 0
    # the layer tree shows the registry groups in Chinese
    groups = w.page.locator(".layer-group h3").all_inner_texts()
    assert groups[:3] == ["底图", "监管对象", "应急资源"] and "事件" in groups
    assert "#c=" in w.page.url and "l=basemap" in w.page.url  # permalink kept in the hash
    save(w.page, "console.png")


def test_toggling_layers_changes_what_is_drawn(browser, pages, live_server: str, signed_in) -> None:  # noqa: ANN001
    w = open_page(browser, f"{live_server}/#c=119.00,32.00&z=13&l=basemap,enterprises", signed_in)
    pages.append(w)
    wait_rendered(w.page)
    with_enterprises = map_image(w.page)
    w.page.evaluate("window.onemap.renderComplete = false")
    w.page.get_by_label("显示/隐藏图层: 生产经营单位").uncheck()
    wait_rendered(w.page)
    assert w.page.evaluate("window.onemap.layers.get('enterprises').getVisible()") is False
    without = map_image(w.page)
    assert changed_fraction(with_enterprises, without) > 0.002
    assert "enterprises" not in w.page.url.split("l=", 1)[1]
    # a raster overlay: its tiles are requested from MapProxy and change the picture
    w.page.evaluate("window.onemap.renderComplete = false")
    w.page.get_by_label("显示/隐藏图层: 网格").check()
    wait_rendered(w.page)
    grid = w.tile_responses("/tiles/wmts/grid_cells/webmercator/13/")
    assert grid and set(grid) == {200}
    assert changed_fraction(without, map_image(w.page)) > 0.002


def test_clicking_an_enterprise_opens_its_panel(browser, pages, live_server: str, signed_in, db) -> None:  # noqa: ANN001
    ent = isolated_enterprise(db)
    w = open_page(browser, f"{live_server}/", signed_in)
    pages.append(w)
    wait_rendered(w.page)
    set_view(w.page, ent.lon, ent.lat, 17)
    assert click_feature(w.page, ent.lon, ent.lat) == ent.name
    panel = w.page.locator("#feature-panel")
    assert ent.uscc in panel.inner_text() and "统一社会信用代码" in panel.inner_text()
    assert panel.locator("[data-section=hazard_sources] summary").inner_text().startswith("重大危险源")
    save(w.page, "console-panel.png")


def test_searching_a_uscc_pans_to_the_enterprise(browser, pages, live_server: str, signed_in, db) -> None:  # noqa: ANN001
    ent = isolated_enterprise(db)
    w = open_page(browser, f"{live_server}/", signed_in)
    pages.append(w)
    wait_rendered(w.page)
    w.page.locator("#search-input").fill(ent.uscc)
    w.page.locator("#search-input").press("Enter")
    w.page.locator("#feature-panel .panel-title", has_text=ent.name).wait_for(timeout=5000)
    # the view ends centred on the enterprise (within a metre)
    w.page.wait_for_function("""([lon, lat]) => {
        const v = window.onemap.map.getView();
        const c = ol.proj.toLonLat(v.getCenter(), v.getProjection());
        return !v.getAnimating() && ol.sphere.getDistance(c, [lon, lat]) < 1 && v.getZoom() >= 15.9;
    }""", arg=[ent.lon, ent.lat], timeout=5000)


def test_buffer_query_returns_the_postgis_dwithin_set(browser, pages, live_server: str, signed_in, db) -> None:  # noqa: ANN001
    w = open_page(browser, f"{live_server}/#c=119.00,32.00&z=14&l=basemap,enterprises", signed_in)
    pages.append(w)
    wait_rendered(w.page)
    w.page.get_by_role("button", name="工具").click()
    w.page.locator(".buffer-input").fill("1000")
    w.page.get_by_role("button", name="画点").click()
    box = w.page.locator("#map").bounding_box()
    w.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    w.page.locator(".query-results .result-layer").first.wait_for(timeout=10_000)
    result = w.page.evaluate("window.onemap.lastQuery")
    assert result["buffer_m"] == 1000 and result["geometry"]["type"] == "Point"
    listed = {layer["layer"]: layer for layer in result["layers"]}
    from layers.registry import default_registry

    ticked = {layer.id for layer in default_registry() if layer.console.query}   # the tool's default layers
    # (the case layers among them hold cases at random places of the demo history: listed when one is near)
    assert {"enterprises", "hazard_sources", "sensitive_targets", "shelters"} <= set(listed) <= ticked
    with db.connect() as conn:
        for layer_id, layer in listed.items():
            expected = set(conn.execute(sa.text(
                f"SELECT id FROM {layer_id} WHERE ST_DWithin(geom::geography, "
                "ST_SetSRID(ST_GeomFromGeoJSON(:g), 4490)::geography, 1000)"),
                {"g": json.dumps(result["geometry"])}).scalars())
            assert not layer["truncated"]
            assert {f["id"] for f in layer["features"]} == expected, layer_id
            badge = w.page.locator(f".result-layer[data-layer={layer_id}] .badge").inner_text()
            assert int(badge) == len(expected)
    assert len(listed["enterprises"]["features"]) > 0
    save(w.page, "console-buffer.png")


# -- large screen ----------------------------------------------------------------------------------------------

def test_large_screen_fits_3840x2160_without_overflow(browser, pages, live_server: str, signed_in, db) -> None:  # noqa: ANN001
    w = open_page(browser, f"{live_server}/screen", signed_in, 3840, 2160)
    pages.append(w)
    wait_rendered(w.page)
    w.page.wait_for_function("() => window.onemap.kpis !== undefined")
    layout = w.page.evaluate("""() => {
        const de = document.documentElement;
        const boxes = [...document.querySelectorAll('.panel, .screen-head, .kpi')].map((el) => {
            const r = el.getBoundingClientRect();
            return {cls: el.className, l: r.left, t: r.top, r: r.right, b: r.bottom};
        });
        const clipped = [...document.querySelectorAll('.kpi-value, .kpi-label, .screen-head h1')]
            .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent);
        return {sw: de.scrollWidth, sh: de.scrollHeight, w: innerWidth, h: innerHeight, boxes, clipped,
                rem: parseFloat(getComputedStyle(de).fontSize)};
    }""")
    assert (layout["sw"], layout["sh"]) == (3840, 2160) == (layout["w"], layout["h"])
    for b in layout["boxes"]:
        assert 0 <= b["l"] and b["r"] <= 3840 and 0 <= b["t"] and b["b"] <= 2160, b
    assert layout["clipped"] == []
    assert layout["rem"] == 32  # everything scaled ×2 from the 1920×1080 design
    with db.connect() as conn:
        enterprises = conn.execute(sa.text("SELECT count(*) FROM enterprises")).scalar_one()
        overdue_open = conn.execute(sa.text("SELECT count(*) FROM hidden_dangers WHERE overdue AND state IN "
                                            "('reported', 'rectifying', 'verifying')")).scalar_one()
    value = w.page.locator("[data-kpi=enterprises] .kpi-value").inner_text()
    assert int(value.replace(",", "")) == enterprises
    overdue = w.page.locator("[data-kpi=overdue_hidden_dangers]")
    assert int(overdue.locator(".kpi-value").inner_text().replace(",", "")) == overdue_open
    assert overdue.get_attribute("title")
    save(w.page, "screen-3840x2160.png")


def test_published_event_appears_on_the_screen_within_2s(browser, pages, live_server: str, signed_in) -> None:  # noqa: ANN001
    w = open_page(browser, f"{live_server}/screen", signed_in, 1920, 1080)
    pages.append(w)
    w.page.locator("#link-state.ok").wait_for(timeout=10_000)  # the SSE stream is open
    title = "浏览器测试事件：示范市某化工厂泄漏"
    headers = {"Content-Type": "application/json"}
    if signed_in:  # a module publishing as the signed-in dispatcher
        headers.update({"Cookie": f"{signed_in[0]}={signed_in[1]}", "X-CSRF-Token": signed_in[2]})
    request = urllib.request.Request(
        f"{live_server}/api/events", method="POST", headers=headers,
        data=json.dumps({"type": "incident.created", "data": {"title": title, "lon": 119.0, "lat": 32.0}}).encode())
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
    w.page.locator("#ticker li", has_text=title).wait_for(timeout=2000)
    assert "突发事件" in w.page.locator("#ticker li").first.inner_text()
    wait_rendered(w.page)
    save(w.page, "screen-1920x1080.png")


def test_the_public_sees_public_layers_only_and_no_errors(browser, pages, live_server: str, db) -> None:  # noqa: ANN001
    """Anonymous (public) console: no internal layers in the tree, no grade theme, a public feature's panel opens,
    the statistics show a dash for what the public may not see — and nothing errors in the browser."""
    with db.connect() as conn:
        hospital = conn.execute(sa.text(
            "SELECT h.id, h.name, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat FROM hospitals h WHERE NOT EXISTS "
            "(SELECT 1 FROM shelters s WHERE ST_DWithin(s.geom::geography, h.geom::geography, 150)) "
            "AND NOT EXISTS (SELECT 1 FROM fire_stations f WHERE ST_DWithin(f.geom::geography, h.geom::geography, 150)) "
            "ORDER BY h.id LIMIT 1")).one()
    w = open_page(browser, f"{live_server}/#c={hospital.lon:.5f},{hospital.lat:.5f}&z=17&l=basemap,hospitals", None)
    pages.append(w)
    wait_rendered(w.page)
    ids = set(w.page.evaluate("[...window.onemap.layers.keys()]"))
    assert "hospitals" in ids and not ids & {"enterprises", "hazard_sources", "incidents", "sensors"}, ids
    assert w.page.locator(".modes").is_hidden()
    assert click_feature(w.page, hospital.lon, hospital.lat) == hospital.name
    w.page.locator("#btn-stats").click()
    w.page.wait_for_function("() => document.querySelector('#stats-panel').dataset.loaded === 'all'")
    forbidden = [(s, u) for s, u in w.responses if s in (401, 403)]
    assert forbidden == [], forbidden
    save(w.page, "console-public.png")
