"""The alarm closed loop end to end, with nothing in between stood in for: an enterprise gateway publishes a gas leak
through the private Mosquitto broker (QoS 1), the ingest worker stores it, raises the alarms, opens their 报警处置
case and turns the hazard source red in one transaction, and its live events reach the dispatcher's console and the
large screen over SSE (the PostgreSQL channel) — then, in Chromium, the dispatcher acknowledges, the enterprise's
safety officer reports cause and measures, the gateway's readings fall back (the alarms clear, the case moves by
itself) and the dispatcher closes the loop.

Runs on its own clone of the demo city; the enterprise user is bound to an enterprise of the demo district with a
combustible-gas detector. A request leaving 127.0.0.1 or a browser error fails the test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from tests.integration.monitoring_support import wait_until
from tests.system.session_server import session_server
from tests.system.test_case_pages_browser import open_as
from tests.system.test_console_browser import browser, pages, save  # noqa: F401 - fixtures
from tests.system.test_hidden_danger_walk_browser import _act

pytestmark = pytest.mark.system

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 2 November 2026, 10:00 in China


@pytest.fixture(scope="module")
def server(pg_cluster: Any, template_url: str, demo_artifacts: Path, tmp_path_factory: pytest.TempPathFactory,
           mqtt_broker: Any) -> Iterator[SimpleNamespace]:
    def prepare(conn: sa.Connection) -> dict[str, Any]:
        from access.demo import DEMO_DISTRICT

        conn.execute(sa.text("DELETE FROM monitoring_alarms"))
        conn.execute(sa.text("UPDATE sensors SET status = 'normal'"))
        conn.execute(sa.text("UPDATE hazard_sources SET warning_level = NULL"))
        sensor = dict(conn.execute(sa.text(
            "SELECT s.code, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, h.code AS hs, h.name AS hs_name, "
            "h.enterprise_uscc AS uscc, ms.gateway_code AS gateway FROM sensors s "
            "JOIN hazard_sources h ON h.code = s.hazard_source_code JOIN monitoring_sensors ms ON ms.sensor_code = s.code "
            "JOIN enterprises e ON e.uscc = h.enterprise_uscc "
            "WHERE ms.rule_set = 'combustible_gas' AND e.district_code = :d ORDER BY s.code LIMIT 1"),
            {"d": DEMO_DISTRICT}).mappings().one())
        conn.execute(sa.text("UPDATE users SET enterprise_uscc = :u WHERE username = 'enterprise'"),
                     {"u": sensor["uscc"]})
        gateways = conn.execute(sa.text("SELECT code, enterprise_uscc FROM monitoring_gateways")).all()
        return {"sensor": sensor, "gateways": [tuple(g) for g in gateways]}

    with session_server(pg_cluster, demo_artifacts, tmp_path_factory, "t_alarm_loop_browser",
                        users=("dispatcher", "enterprise"), now=NOW, prepare=prepare) as server:
        mqtt_broker.set_gateways(server.gateways)
        mqtt_broker.reload()
        yield server


@pytest.fixture(scope="module")
def worker(server: SimpleNamespace, mqtt_broker: Any) -> Iterator[Any]:
    """The ingest worker on the clone, publishing its live events on the clone's channel (as `onemap ingest`)."""
    from core import realtime_backends
    from core.manifest import load_document
    from supervision.monitoring.ingest import IngestWorker, libpq_url

    realtime_backends.install(server.settings)
    worker = IngestWorker(libpq_url(str(server.engine.url.render_as_string(hide_password=False))), mqtt_broker.host,
                          mqtt_broker.port, *mqtt_broker.ingest_credentials(),
                          load_document("supervision.monitoring:rules.yaml"), client_id="test-alarm-loop-browser",
                          batch_interval_ms=50)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert worker.ready.wait(20), "the ingest worker did not subscribe"
        yield worker
    finally:
        stop.set()
        thread.join(10)


def publish_reading(broker: Any, sensor: dict[str, Any], value: float, at: datetime) -> None:
    """One reading, QoS 1, from the sensor's own gateway with its own credentials; returns once the broker has it."""
    from supervision.monitoring.broker import readings_topic
    from supervision.monitoring.payload import encode

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"gw-{sensor['gateway']}")
    client.username_pw_set(*broker.gateway_credentials(sensor["gateway"]))
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        info = client.publish(readings_topic(sensor["uscc"], sensor["gateway"]),
                              encode([{"device": sensor["code"], "ts": at, "value": value, "unit": "%LEL"}]), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def one(server: SimpleNamespace, sql: str, **params: Any) -> Any:
    with server.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).first()


def test_a_leak_is_seen_acknowledged_fed_back_cleared_and_closed(browser, pages, server: SimpleNamespace,  # noqa: ANN001, F811
                                                                  worker: Any, mqtt_broker: Any) -> None:
    s = server.sensor
    console = open_as(browser, server, f"/#c={s['lon']:.5f},{s['lat']:.5f}&z=16&l=basemap,hazard_sources,sensors",
                      "dispatcher")
    pages.append(console)
    screen = open_as(browser, server, "/screen", "dispatcher")
    pages.append(screen)
    console.page.wait_for_function("() => window.onemap.alarms && window.onemap.alarms.list().length === 0")
    screen.page.wait_for_function("() => window.onemap.monitoring && window.onemap.monitoring.kpis")
    screen.page.wait_for_function("() => document.getElementById('link-state').classList.contains('ok')")
    assert screen.page.locator("[data-kpi=alarms] .kpi-value").inner_text() == "0"

    # the leak: 一级 (30 %LEL), a minute later 二级 (60 %LEL), through the broker
    publish_reading(mqtt_broker, s, 30.0, NOW)
    publish_reading(mqtt_broker, s, 60.0, NOW + timedelta(minutes=1))
    alarm = wait_until(lambda: one(server, "SELECT id, case_id FROM monitoring_alarms WHERE sensor_code = :s AND "
                                           "rule = 'gas_level_2' AND state = 'active'", s=s["code"]), "the 二级 alarm")
    case_id = alarm.case_id
    assert one(server, "SELECT count(DISTINCT case_id) FROM monitoring_alarms WHERE sensor_code = :s",
               s=s["code"])[0] == 1     # one leak, one case
    assert one(server, "SELECT warning_level FROM hazard_sources WHERE code = :h", h=s["hs"])[0] == "red"

    # the console learns it live: the hazard source ringed red, the sensor flashing, the alarm listed with its case
    page = console.page
    page.wait_for_function("(hs) => window.onemap.alarms.rings()[hs] === 'red'", arg=s["hs"], timeout=15_000)
    page.wait_for_function("(id) => window.onemap.alarms.list().some((a) => a.id === id && a.case_id)",
                           arg=alarm.id, timeout=15_000)
    assert s["code"] in page.evaluate("() => window.onemap.alarms.flashing()")
    save(page, "alarm-loop-console-red.png")
    # and the screen: the alarm KPI, the 报警处置 panel and the ticker
    screen.page.wait_for_function("() => Number(document.querySelector('[data-kpi=alarms] .kpi-value')"
                                  ".textContent) >= 1", timeout=15_000)
    screen.page.locator(f"#alarm-list li[data-id='{alarm.id}']").wait_for(timeout=15_000)
    screen.page.locator("#ticker li.tick-alarm", has_text=s["code"]).first.wait_for(timeout=15_000)

    # the dispatcher acknowledges, the enterprise reports cause and measures
    _act(browser, pages, server, "dispatcher", case_id, "acknowledge", {"note": "已电话通知企业现场处置"},
         "acknowledged")
    _act(browser, pages, server, "enterprise", case_id, "feedback",
         {"cause": "液化烃装车鹤管法兰垫片老化泄漏", "measures": "关闭根部阀，更换垫片，现场检测合格"}, "handling")

    # the readings fall back: the alarms clear, the case moves by itself, the ring goes
    publish_reading(mqtt_broker, s, 1.0, NOW + timedelta(minutes=2))
    wait_until(lambda: one(server, "SELECT state = 'cleared' FROM cases WHERE id = :c", c=case_id)[0],
               "the case to clear with its alarms")
    page.wait_for_function("(hs) => !window.onemap.alarms.rings()[hs]", arg=s["hs"], timeout=15_000)

    closing = _act(browser, pages, server, "dispatcher", case_id, "close", {"opinion": "原因清楚，措施到位，同意闭环"},
                   "closed")
    save(closing, "alarm-loop-closed.png")
    with server.engine.connect() as conn:
        steps = [tuple(r) for r in conn.execute(sa.text(
            "SELECT action, actor FROM case_events WHERE case_id = :c ORDER BY seq"), {"c": case_id})]
    assert steps == [("raise", None), ("join_active", None), ("join_active", None),
                     ("acknowledge", "dispatcher"), ("feedback", "enterprise"), ("clear", None),
                     ("close", "dispatcher")]
    for w in pages:
        assert not w.external, w.external
        assert not w.errors, w.errors
