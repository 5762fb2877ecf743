"""The hidden-danger plug-in in a real browser, signed in as the demo district regulator on a clone of the demo city
holding the hand-made hidden dangers of hidden_dangers_support: the statistics panel draws the district's figures,
the grid heat layer colours the district's cells with open hidden dangers, and the large screen's overdue card shows
the district's figure and follows a live ``case.`` event — with no browser error (the Content-Security-Policy holds).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core import realtime
from tests.conftest import clone_database, drop_database, free_port, serving
from tests.integration import hidden_dangers_support as hd
from tests.integration.auth_support import sign_in
from tests.system.test_console_browser import browser, open_page, pages, save  # noqa: F401 - fixtures

pytestmark = pytest.mark.system
NAME = "t_hidden_danger_browser"


@pytest.fixture(scope="module")
def site(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    from app import create_app

    url = clone_database(pg_cluster, NAME)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        made = hd.insert(conn)
    var = tmp_path_factory.mktemp(f"{NAME}-var")
    (var / "data").mkdir()
    (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({"database": {"url": url}, "paths": {"var": str(var)}, "server": {"public_url": base},
                      "logging": {"level": "WARNING", "format": "json"}})
    client = app.test_client()
    sign_in(client, "district_reg")
    cookie = client.get_cookie(app.config["ONEMAP_AUTH"].cookie_name)
    signed_in = (app.config["ONEMAP_AUTH"].cookie_name, cookie.value, client.environ_base["HTTP_X_CSRF_TOKEN"])
    try:
        with serving(app, port):
            yield SimpleNamespace(base=base, engine=engine, signed_in=signed_in, app=app, **vars(made))
    finally:
        engine.dispose()
        drop_database(pg_cluster, NAME)


def test_statistics_panel_and_heat_layer(browser, pages, site: SimpleNamespace) -> None:  # noqa: ANN001, F811
    w = open_page(browser, f"{site.base}/", site.signed_in)
    pages.append(w)
    w.page.locator("#btn-hd-stats").click()
    w.page.wait_for_function("() => document.getElementById('hd-stats-panel')?.dataset.loaded === 'true'")
    loaded = w.page.evaluate("() => window.onemap.hiddenDangers.byDistrict")
    assert {k: loaded["totals"][k] for k in hd.OWN} == hd.OWN
    assert [g["key"] for g in loaded["groups"]] == [hd.OWN_DISTRICT]
    # what the charts draw is those figures: the district bars, the category pie, 24 months of trend
    drawn = w.page.evaluate("""() => [...document.querySelectorAll('#hd-stats-panel .chart')].map((el) =>
        echarts.getInstanceByDom(el).getOption().series.map((s) => s.data.map((d) => d.value ?? d)))""")
    assert drawn[0] == [[hd.OWN["open"]], [hd.OWN["overdue"]], [hd.OWN["listed"]], [hd.OWN["closed"]]]
    assert sorted(drawn[1][0]) == [1, 1, 1, 1, 3]  # own district: equipment 3, site, management, fire, electrical
    assert len(drawn[2][0]) == 24 and sum(drawn[2][0]) == hd.OWN["total"]
    assert w.page.locator("#hd-stats-panel [data-figure=overdue] b").inner_text() == str(hd.OWN["overdue"])
    save(w.page, "hidden-dangers-stats.png")

    w.page.locator("#hd-heat-toggle").check()
    w.page.wait_for_function("() => window.onemap.hiddenDangers.heatLayer.getSource().getFeatures().length > 0")
    heat = w.page.evaluate("""() => window.onemap.hiddenDangers.heatLayer.getSource().getFeatures()
        .filter((f) => f.get('open') > 0).map((f) => [f.getId(), f.get('open'), f.get('district_code')])""")
    assert sorted(heat) == sorted([[site.cell["G1"], 2, hd.OWN_DISTRICT], [site.cell["G2"], 1, hd.OWN_DISTRICT]])
    assert w.page.evaluate("() => window.onemap.hiddenDangers.heatLayer.getVisible()") is True
    assert w.page.locator("#hd-heat-legend li").count() == 5


def test_screen_card_shows_the_district_figure_and_follows_case_events(browser, pages,  # noqa: ANN001, F811
                                                                       site: SimpleNamespace) -> None:
    w = open_page(browser, f"{site.base}/screen", site.signed_in, 1920, 1080)
    pages.append(w)
    w.page.locator("#link-state.ok").wait_for(timeout=10_000)  # the SSE stream is open
    card = w.page.locator("[data-kpi=overdue_hidden_dangers] .kpi-value")
    # the page's readings so far (at load, and when the stream opened) have come back: none is on its way when the
    # figure changes, so only a reading asked for after the event can show it
    w.page.wait_for_function("() => window.onemap.kpis !== undefined && window.onemap.kpiPending === 0")
    assert card.inner_text() == str(hd.OWN["overdue"])
    loads = w.page.evaluate("() => window.onemap.kpiLoads")
    with site.engine.begin() as conn:
        conn.execute(sa.text("UPDATE hidden_dangers SET overdue = true WHERE code = 'YH-T-01'"))
    try:
        # what the case engine publishes when a rectification clock breaches; the screen re-reads its figures
        # (well before its 30 s periodic refresh: the wait below is shorter)
        with site.app.app_context():  # this app's broker (outside it: the broker of the app built last)
            realtime.publish("case.clock", {"code": "YH-T-01", "clock": "rectify", "status": "breached"},
                             scope=realtime.ScopeTag("hidden_dangers", hd.OWN_DISTRICT, site.uscc["E1"]))
        # the answer may wait behind the map's tile requests (six connections per host), not the question
        w.page.wait_for_function(
            "(n) => document.querySelector('[data-kpi=overdue_hidden_dangers] .kpi-value').textContent === n",
            arg=str(hd.OWN["overdue"] + 1), timeout=25_000)
        assert w.page.evaluate("() => window.onemap.kpiLoads") > loads   # asked again, after the event
    finally:
        with site.engine.begin() as conn:
            conn.execute(sa.text("UPDATE hidden_dangers SET overdue = false WHERE code = 'YH-T-01'"))
