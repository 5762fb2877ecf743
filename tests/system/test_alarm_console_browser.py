"""Sensor alarms on the dispatcher's console and the large screen, in a real browser (Chromium) against the whole app
over HTTP: a level-2 toxic-gas alarm published on the live channel (the contract of supervision/monitoring/README.md)
flashes at its sensor, sounds (Web Audio, after a user gesture), recolours the sensor and rings its hazard source in
its warning colour, and lists itself in the alarm panel; the screen's alarm KPI, its 报警处置 panel and its ticker show
it. Then alarm → plume → dispatch: one click runs the plume of the hazard source's gas, draws the zone, lists the
sensitive targets and people inside and opens the nearest-resources panel at the hazard source.

Writes, so it runs on its own clone of the demo city with the dispatcher signed in by a session of that database. The
events are published in the server's process through core.realtime, as the ingest worker's are (the end-to-end test
with the real broker and ingest is the lead's). A request leaving 127.0.0.1 or a console error fails a test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from tests.system.session_server import session_server
from tests.system.test_case_pages_browser import open_as
from tests.system.test_console_browser import (  # noqa: F401 - browser and pages are fixtures
    browser,
    pages,
    save,
)

pytestmark = pytest.mark.system

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 2 November 2026, 10:00 in China


@pytest.fixture(scope="module")
def server(pg_cluster: Any, template_url: str, demo_artifacts: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    def prepare(conn: sa.Connection) -> dict[str, Any]:
        conn.execute(sa.text("DELETE FROM monitoring_alarms"))
        conn.execute(sa.text("UPDATE sensors SET status = 'normal'"))
        # a chlorine holder's toxic-gas detector (the plume then has a toxic gas to draw)
        sensor = dict(conn.execute(sa.text(
            "SELECT s.code, s.district_code, s.unit, s.alarm_high, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, "
            "h.code AS hs, h.name AS hs_name, h.enterprise_uscc, ST_X(h.geom) AS hs_lon, ST_Y(h.geom) AS hs_lat "
            "FROM sensors s JOIN hazard_sources h ON h.code = s.hazard_source_code "
            "WHERE s.kind = 'gas_concentration' AND s.unit = 'ppm' AND EXISTS (SELECT 1 FROM hazard_source_chemicals c "
            "WHERE c.hazard_source_code = h.code AND c.cas = '7782-50-5') ORDER BY s.code LIMIT 1")).mappings().one())
        raised = NOW - timedelta(minutes=2)
        alarm_id = conn.execute(sa.text(
            "INSERT INTO monitoring_alarms (sensor_code, rule, kind, level, value, threshold, message, raised_at, "
            "updated_at) VALUES (:s, 'gas_level_2', 'level', 2, :v, :t, 'test leak', :at, :at) RETURNING id"),
            {"s": sensor["code"], "v": sensor["alarm_high"] * 3, "t": sensor["alarm_high"], "at": raised}).scalar_one()
        conn.execute(sa.text("UPDATE sensors SET status = 'alarm' WHERE code = :s"), {"s": sensor["code"]})
        return {"sensor": sensor, "alarm_id": alarm_id, "raised": raised}

    with session_server(pg_cluster, demo_artifacts, tmp_path_factory, "t_alarm_console_browser",
                        users=("dispatcher",), now=NOW, prepare=prepare) as server:
        yield server


def publish_alarm(server: SimpleNamespace) -> None:
    """The events the ingest worker sends for this raise (monitoring.alarm, monitoring.sensor_status) and the
    alarm loop's warning level of the hazard source."""
    from core.realtime import ScopeTag

    s = server.sensor
    tag = ScopeTag("sensors", s["district_code"], s["enterprise_uscc"])
    server.publish("monitoring.alarm", {
        "id": server.alarm_id, "sensor_code": s["code"], "hazard_source_code": s["hs"],
        "enterprise_uscc": s["enterprise_uscc"], "district_code": s["district_code"], "rule": "gas_level_2",
        "kind": "level", "level": 2, "label": "有毒气体二级报警", "message": "test leak", "value": s["alarm_high"] * 3,
        "threshold": s["alarm_high"], "unit": s["unit"], "action": "raise", "state": "active",
        "raised_at": server.raised.isoformat(), "at": server.raised.isoformat(), "lon": s["lon"], "lat": s["lat"],
        "case_id": None}, scope=tag)
    server.publish("monitoring.sensor_status", {"sensor_code": s["code"], "status": "alarm",
                                                  "hazard_source_code": s["hs"]}, scope=tag)
    server.publish("monitoring.warning_level", {
        "hazard_source_code": s["hs"], "name": s["hs_name"], "level": "red", "previous": None,
        "at": server.raised.isoformat(), "lon": s["hs_lon"], "lat": s["hs_lat"]},
        scope=ScopeTag("hazard_sources", s["district_code"], s["enterprise_uscc"]))


def test_a_level_2_alarm_flashes_sounds_and_leads_to_the_plume_and_the_nearest_resources(
        browser, pages, server: SimpleNamespace) -> None:  # noqa: ANN001, F811
    s = server.sensor
    # at the sensor, with few layers: the 2-core machine draws no city of tiles before the test can start
    w = open_as(browser, server, f"/#c={s['lon']:.5f},{s['lat']:.5f}&z=15&l=basemap,hazard_sources,sensors", "dispatcher")
    pages.append(w)
    page = w.page
    page.wait_for_function("() => window.onemap.alarms && window.onemap.nearest")
    # the alarm already in the database is listed and flashes from the start (a console opened after the raise)
    page.wait_for_function("(id) => window.onemap.alarms.list().some((a) => a.id === id)", arg=server.alarm_id)
    assert page.evaluate("() => window.onemap.alarms.flashing()") == [server.sensor["code"]]
    assert page.locator("#btn-alarms .alarm-count").inner_text() == "1"
    page.locator("#btn-alarms").click()  # a user gesture: the page may sound from now on
    item = page.locator(f"#alarm-panel .alarm-item[data-id='{server.alarm_id}']")
    item.wait_for()
    assert "有毒气体二级报警" in item.inner_text() and server.sensor["hs_name"] in item.inner_text()
    assert "未立案" in item.inner_text()  # no disposal case yet (the alarm loop opens one on a raise)

    # the live events: a sound, the flashing marker, the sensor recoloured, the hazard source ringed red
    page.evaluate("() => window.onemap.alarms.state.flashes.clear()")  # the marker must come back from the event
    page.evaluate("() => { for (const o of [...window.onemap.map.getOverlays().getArray()]) "
                  "if (o.getElement().classList.contains('alarm-flash')) window.onemap.map.removeOverlay(o); }")
    item.locator(".alarm-locate").click()  # zooms to the sensor and shows the sensors layer
    page.wait_for_function("(code) => { const l = window.onemap.map.getLayers().getArray()"
                           ".find((x) => x.get('id') === 'sensors'); return l && l.getVisible() && l.getSource()"
                           ".getFeatures().some((f) => f.get('code') === code); }", arg=server.sensor["code"],
                           timeout=120_000)
    page.wait_for_function("() => document.body.dataset.live === 'open'", timeout=30_000)  # the live stream
    beeps = page.evaluate("() => window.onemap.alarms.beeps()")
    publish_alarm(server)
    page.wait_for_function("(n) => window.onemap.alarms.beeps() > n", arg=beeps, timeout=10_000)
    page.wait_for_function("(code) => window.onemap.alarms.rings()[code] === 'red'", arg=server.sensor["hs"])
    page.locator(f".alarm-flash[data-sensor='{server.sensor['code']}']").wait_for(state="visible")
    # the console re-reads its live layers on monitoring events: wait for the re-read sensor, then its status
    page.wait_for_function("(code) => { const l = window.onemap.map.getLayers().getArray()"
                           ".find((x) => x.get('id') === 'sensors'); const f = l && l.getSource().getFeatures()"
                           ".find((x) => x.get('code') === code); return f && f.get('status') === 'alarm'; }",
                           arg=server.sensor["code"], timeout=30_000)
    save(page, "alarm-console-flash.png")

    # alarm → plume → dispatch, in one click
    item.locator(".alarm-plume").click()
    page.wait_for_function("() => window.onemap.alarms.plumeFeatures().includes('zone')", timeout=30_000)
    impact = page.locator("#alarm-panel .alarm-impact")
    assert "氯" in impact.locator("select[name=chemical]").inner_text()
    assert impact.locator("input[name=wind_speed_m_s]").input_value() == "2.5"
    body = page.evaluate("() => window.onemap.alarms.state.impact")
    assert body["chemical"]["cas"] == "7782-50-5" and body["population"]["residents"] > 0
    assert impact.locator(".impact-people").inner_text().startswith(f"{body['population']['sensitive_targets']:,}")
    page.locator("#nearest-panel").wait_for(state="visible")
    page.wait_for_function("() => window.onemap.nearest.state.result && window.onemap.nearest.routes() > 0",
                           timeout=60_000)
    target = page.evaluate("() => window.onemap.alarms.state.impact.point")
    assert target == pytest.approx([server.sensor["hs_lon"], server.sensor["hs_lat"]])
    assert page.locator("#nearest-panel .nearest-list > li").count() > 0
    # the dispatcher enters the wind on site: the zone is recomputed with it
    impact.locator("input[name=wind_speed_m_s]").fill("5")
    impact.locator("input[name=wind_from_deg]").fill("270")
    impact.locator("button[type=submit]").click()
    page.wait_for_function("() => window.onemap.alarms.state.impact.wind.source === 'entered'", timeout=90_000)
    assert page.evaluate("() => window.onemap.alarms.state.impact.wind") == {"speed_m_s": 5, "from_deg": 270,
                                                                              "source": "entered"}
    save(page, "alarm-console-plume.png")
    assert not w.external, w.external
    assert not w.errors, w.errors


def test_the_screen_shows_the_alarm_kpi_its_handling_and_the_ticker(browser, pages, server: SimpleNamespace) -> None:  # noqa: ANN001, F811, E501
    w = open_as(browser, server, "/screen", "dispatcher")
    pages.append(w)
    page = w.page
    page.wait_for_function("() => window.onemap.monitoring && window.onemap.monitoring.kpis")
    active = page.evaluate("() => window.onemap.monitoring.kpis.active_alarms")
    assert active >= 1
    assert page.locator("[data-kpi=alarms] .kpi-value").inner_text() == str(active)
    assert "二级 1" in page.locator("#alarm-levels").inner_text()
    row = page.locator(f"#alarm-list li[data-id='{server.alarm_id}']")
    row.wait_for()
    assert "有毒气体二级报警" in row.inner_text() and "待立案" in row.inner_text()
    page.wait_for_function("() => document.getElementById('link-state').classList.contains('ok')")
    publish_alarm(server)
    tick = page.locator("#ticker li.tick-alarm", has_text=server.sensor["code"]).first
    tick.wait_for()
    assert tick.locator(".type").inner_text() == "报警" and "有毒气体二级报警" in tick.inner_text()
    warning = page.locator("#ticker li.tick-alarm", has_text=server.sensor["hs_name"]).first
    assert warning.locator(".type").inner_text() == "预警" and "红色预警" in warning.inner_text()
    assert page.locator("#ticker li.tick-sensor").count() >= 1
    save(page, "alarm-screen.png")
    assert not w.external, w.external
    assert not w.errors, w.errors
