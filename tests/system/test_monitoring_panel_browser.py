"""The monitoring plug-in in a real browser (Chromium), signed in as the demo dispatcher on a clone of the demo city:
a click on a sensor opens its live value and an ECharts trend drawn from the aggregates (readings written into the
tables), the hour / day / week buttons switch the buckets, the set points are drawn as lines, and a new reading shows
up as the live value; a hazard source lists its sensors' latest values; a click on a video point plays its HLS
stream (the generated sample) through hls.js — the video's currentTime advances. No browser error, no request
leaving 127.0.0.1 (the Content-Security-Policy holds: hls.js feeds the video through a blob: URL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from supervision.monitoring import video
from tests.system.session_server import session_server
from tests.system.test_console_browser import (  # noqa: F401 - fixtures
    browser,
    click_feature,
    open_page,
    pages,
    save,
    wait_rendered,
)

pytestmark = pytest.mark.system
NOW = datetime(2026, 12, 7, 6, 30, 20, tzinfo=UTC)
# a feature no other point of the layers drawn is within this distance of: the click hits it alone
ALONE_M = 25
ISOLATED = """
SELECT t.id, t.code, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat{extra} FROM {table} t {join}
WHERE NOT EXISTS (SELECT 1 FROM sensors o WHERE o.code <> t.code AND ST_DWithin(o.geom::geography, t.geom::geography, :r))
  AND NOT EXISTS (SELECT 1 FROM video_points o WHERE o.code <> t.code
                  AND ST_DWithin(o.geom::geography, t.geom::geography, :r)) {where}
ORDER BY t.code LIMIT 1
"""


def _prepare(conn: sa.Connection) -> dict:
    sensor = conn.execute(sa.text(ISOLATED.format(
        table="sensors", extra="", join="JOIN monitoring_sensors ms ON ms.sensor_code = t.code",
        where="AND ms.rule_set = 'combustible_gas'")), {"r": ALONE_M}).mappings().one()
    camera = conn.execute(sa.text(ISOLATED.format(table="video_points", extra="", join="",
                                                  where="AND t.status = 'online'")), {"r": ALONE_M}).mappings().one()
    minute, hour = NOW.replace(second=0), NOW.replace(minute=0, second=0)
    rows = [("monitoring_agg_1m", minute - timedelta(minutes=i), 8.0 + i % 5) for i in range(60)]
    rows += [("monitoring_agg_1h", hour - timedelta(hours=i), 6.0 + i % 7) for i in range(24 * 7)]
    for table, bucket, value in rows:
        conn.execute(sa.text(f"INSERT INTO {table} (sensor_code, bucket, n, total, min_value, max_value) "
                             "VALUES (:c, :b, 6, :t, :lo, :hi)"),
                     {"c": sensor["code"], "b": bucket, "t": 6 * value, "lo": value - 1.5, "hi": value + 2})
    conn.execute(sa.text("INSERT INTO monitoring_latest (sensor_code, ts, value, quality) VALUES (:c, :t, 12.25, 0)"),
                 {"c": sensor["code"], "t": NOW - timedelta(seconds=4)})
    source = conn.execute(sa.text("SELECT h.code, h.id, count(s.*) AS n FROM hazard_sources h "
                                  "JOIN sensors s ON s.hazard_source_code = h.code WHERE h.code = "
                                  "(SELECT hazard_source_code FROM sensors WHERE code = :c) GROUP BY 1, 2"),
                         {"c": sensor["code"]}).mappings().one()
    return {"sensor": dict(sensor), "camera": dict(camera), "source": dict(source)}


@pytest.fixture(scope="module")
def site(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    with session_server(pg_cluster, demo_artifacts, tmp_path_factory, "t_monitoring_panel_browser",
                        users=["dispatcher"], now=NOW, prepare=_prepare) as server:
        # the demo's HLS sample, as `onemap demo build` writes it into var/
        video.write_sample(video.sample_dir(Path(server.settings["paths"]["var"])))
        yield server


def _open_at(browser, site: SimpleNamespace, feature: dict, layer: str):  # noqa: ANN001, ANN202, F811
    w = open_page(browser, f"{site.url}/#c={feature['lon']:.6f},{feature['lat']:.6f}&z=19&l={layer}",
                  site.session["dispatcher"])
    wait_rendered(w.page)
    return w


def _chart(page) -> dict:  # noqa: ANN001
    return page.evaluate("""() => {
        const el = document.querySelector('#feature-panel .mon-chart');
        const option = echarts.getInstanceByDom(el).getOption();
        return {range: el.dataset.range, avg: option.series[2].data.length,
                lines: option.series[2].markLine.data.map((d) => d.yAxis)};
    }""")


def _wait_range(page, range_name: str, points: int) -> None:  # noqa: ANN001
    page.wait_for_function("""([r, n]) => {
        const el = document.querySelector('#feature-panel .mon-chart');
        return el && el.dataset.range === r && el.dataset.points === String(n) && !el.hasAttribute('aria-busy');
    }""", arg=[range_name, points], timeout=10_000)


def test_a_sensor_shows_its_live_value_and_trend(browser, pages, site: SimpleNamespace) -> None:  # noqa: ANN001, F811
    w = _open_at(browser, site, site.sensor, "sensors")
    pages.append(w)
    assert click_feature(w.page, site.sensor["lon"], site.sensor["lat"]) == site.sensor["code"]
    live = w.page.locator("#feature-panel [data-section=monitoring-live] .mon-number")
    live.wait_for(timeout=10_000)
    _wait_range(w.page, "hour", 60)
    assert w.page.locator("#feature-panel .mon-value").get_attribute("data-value") == "12.25"
    assert "12.25" in live.inner_text() and "%LEL" in live.inner_text()
    chart = _chart(w.page)
    assert chart["avg"] == 60
    assert sorted(chart["lines"]) == [25, 50]   # 一级 25 %LEL, 二级 50 %LEL, drawn as lines
    save(w.page, "monitoring-sensor-hour.png")

    for name, count in (("day", 24), ("week", 168), ("hour", 60)):
        w.page.locator(f"#feature-panel .mon-range[data-range={name}]").click()
        _wait_range(w.page, name, count)
        assert w.page.locator(f"#feature-panel .mon-range[data-range={name}]").get_attribute("aria-pressed") == "true"
        assert _chart(w.page)["avg"] == count
    save(w.page, "monitoring-sensor-week.png")

    # a newer reading: the live value follows without a click (the panel re-reads it every few seconds)
    with site.engine.begin() as conn:
        conn.execute(sa.text("UPDATE monitoring_latest SET value = 27.5, ts = :t WHERE sensor_code = :c"),
                     {"c": site.sensor["code"], "t": NOW - timedelta(seconds=1)})
    w.page.wait_for_function("() => document.querySelector('#feature-panel .mon-value')?.dataset.value === '27.5'",
                             timeout=15_000)


def test_a_hazard_source_lists_its_sensors(browser, pages, site: SimpleNamespace) -> None:  # noqa: ANN001, F811
    w = open_page(browser, f"{site.url}/", site.session["dispatcher"])
    pages.append(w)
    wait_rendered(w.page)
    w.page.evaluate("(id) => window.onemap.openFeature('hazard_sources', id)", site.source["id"])
    rows = w.page.locator("#feature-panel [data-section=monitoring-sensors] tr[data-sensor]")
    rows.first.wait_for(timeout=10_000)
    assert rows.count() == site.source["n"]
    row = w.page.locator(f"#feature-panel tr[data-sensor='{site.sensor['code']}']")
    with site.engine.connect() as conn:  # the sensor test may have moved it on
        latest = conn.execute(sa.text("SELECT value FROM monitoring_latest WHERE sensor_code = :c"),
                              {"c": site.sensor["code"]}).scalar_one()
    assert row.locator(".mon-cell-value").inner_text() == f"{latest:.2f} %LEL"
    row.locator("[data-pick]").click()
    w.page.wait_for_function("(c) => document.querySelector('#feature-panel .mon-chart')?.dataset.sensor === c",
                             arg=site.sensor["code"])
    _wait_range(w.page, "hour", 60)
    assert row.get_attribute("class").split().count("mon-picked-row") == 1


def test_a_video_point_plays_its_stream(browser, pages, site: SimpleNamespace) -> None:  # noqa: ANN001, F811
    w = _open_at(browser, site, site.camera, "video_points")
    pages.append(w)
    assert click_feature(w.page, site.camera["lon"], site.camera["lat"]).endswith("视频监控")
    player = w.page.locator("#feature-panel [data-section=monitoring-video] video")
    player.wait_for(timeout=10_000)
    w.page.wait_for_function("() => document.querySelector('#feature-panel video')?.dataset.source === 'sample'")
    # playing: the position moves on (and past the first segment: hls.js fetched the next ones)
    w.page.wait_for_function("() => document.querySelector('#feature-panel video').currentTime > 0.5", timeout=20_000)
    first = w.page.evaluate("() => document.querySelector('#feature-panel video').currentTime")
    w.page.wait_for_function("(t) => document.querySelector('#feature-panel video').currentTime > t + 1", arg=first,
                             timeout=20_000)
    assert w.page.evaluate("() => document.querySelector('#feature-panel video').src").startswith("blob:")
    segments = [url for status, url in w.responses if "/api/monitoring/video/sample/segment" in url and status == 200]
    assert len(segments) >= 2, segments
    save(w.page, "monitoring-video.png")
