"""The ingest path against the real broker and PostGIS: QoS 1 duplicates and late readings, a worker killed in the
middle of a stream, a gateway publishing under another enterprise, malformed payloads."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from core import clock
from supervision.monitoring.broker import PrivateBroker, readings_topic
from supervision.monitoring.payload import encode
from tests.integration.monitoring_support import (
    ROOT,
    RULES,
    cloned,
    one,
    publish,
    publisher,
    readings,
    register_site,
    running_worker,
    wait_until,
)


@pytest.fixture(scope="module")
def db(pg_cluster: Any, template_url: str) -> Iterator[str]:
    with cloned(pg_cluster, "mon_ingest") as url:
        yield url


@pytest.fixture(scope="module")
def site(db: str, mqtt_broker: PrivateBroker) -> dict[str, Any]:
    return register_site(db, mqtt_broker)


def test_duplicates_and_late_readings_are_stored_once_and_never_move_state_back(
        db: str, mqtt_broker: PrivateBroker, site: dict) -> None:
    a = site["a"]
    sensor, topic = a["sensor"], readings_topic(a["enterprise"], a["gateway"])
    t0 = clock.now().replace(microsecond=0) - timedelta(minutes=10)

    def msg(*pairs: tuple[int, float]) -> bytes:
        return encode([{"device": sensor, "ts": t0 + timedelta(seconds=s), "value": v, "unit": "%LEL"}
                       for s, v in pairs])

    with running_worker(db, mqtt_broker, "test-dup") as worker, publisher(mqtt_broker, a["gateway"]) as client:
        first = msg((0, 5.0), (10, 12.0), (20, 30.0), (30, 31.0))      # crosses 一级 (25 %LEL) at +20 s
        publish(client, topic, first)
        wait_until(lambda: worker.totals.get("stored", 0) >= 4, "the first readings")
        publish(client, topic, first)                                 # a QoS 1 redelivery of the same message
        publish(client, topic, msg((10, 99.0), (30, 0.0)))             # same instants, other values: first wins
        publish(client, topic, msg((25, 1.0), (-5, 2.0)))              # late readings, older than the latest
        wait_until(lambda: worker.totals.get("messages", 0) >= 4, "four messages")
    assert readings(db, sensor) == [(t0 + timedelta(seconds=s), v) for s, v in
                                    [(-5, 2.0), (0, 5.0), (10, 12.0), (20, 30.0), (25, 1.0), (30, 31.0)]]
    assert worker.totals["duplicates"] == 6 and worker.totals["stored"] == 6
    # latest: the newest instant, not the last message; aggregates count each stored reading once
    assert one(db, "SELECT ts, value FROM monitoring_latest WHERE sensor_code = %s", sensor) == \
        (t0 + timedelta(seconds=30), 31.0)
    n, total = one(db, "SELECT sum(n), sum(total) FROM monitoring_agg_1m WHERE sensor_code = %s", sensor)
    assert (n, total) == (6, 81.0)
    assert one(db, "SELECT sum(n) FROM monitoring_agg_1h WHERE sensor_code = %s", sensor) == (6,)
    # the 一级 alarm was raised once and not cleared by the late 1.0 %LEL reading (older than the latest)
    assert one(db, "SELECT count(*), min(state), min(level), max(repeats) FROM monitoring_alarms "
                   "WHERE sensor_code = %s AND rule = 'gas_level_1'", sensor) == (1, "active", 1, 1)
    # and the map shows it: the sensors layer's status comes from the active alarms (not the demo's dice)
    assert one(db, "SELECT status FROM sensors WHERE code = %s", sensor) == ("alarm",)


def test_a_worker_killed_mid_stream_loses_no_acknowledged_reading(
        db: str, mqtt_broker: PrivateBroker, site: dict, tmp_path: Path) -> None:
    a = site["a"]
    sensors = a["more"]
    topic = readings_topic(a["enterprise"], a["gateway"])
    client_id = "test-restart"
    with running_worker(db, mqtt_broker, client_id):
        pass  # the broker now holds this worker's session: messages are queued while it is down
    env = {**os.environ, "DATABASE_URL": db, "ONEMAP_MQTT_PORT": str(mqtt_broker.port),
           "ONEMAP_MQTT_DIR": str(mqtt_broker.base), "ONEMAP_MQTT_CLIENT_ID": client_id, "ONEMAP_VAR": str(tmp_path)}
    env.pop("ONEMAP_CONFIG", None)

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['ingest'])"], env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stored() -> int:
        return one(db, "SELECT count(*) FROM monitoring_readings WHERE sensor_code = ANY(%s)", sensors)[0]

    t0 = clock.now().replace(microsecond=0) - timedelta(hours=2)
    batches = [encode([{"device": sensors[i % 2], "ts": t0 + timedelta(seconds=10 * i + k), "value": float(k),
                        "unit": "%LEL"} for k in range(10)]) for i in range(200)]
    published = 0
    with publisher(mqtt_broker, a["gateway"]) as client:
        worker = start()
        try:
            for payload in batches[:50]:
                publish(client, topic, payload)
                published += 10
            wait_until(lambda: stored() > 0, "the first worker to store readings", timeout=60)
            # hold the worker's next batch inside its transaction: it has received these messages (the broker
            # acknowledged them to the gateway) but cannot commit them when it is killed
            with psycopg.connect(db) as blocker:
                blocker.execute("LOCK TABLE monitoring_latest IN ACCESS EXCLUSIVE MODE")
                for payload in batches[50:100]:
                    publish(client, topic, payload)
                    published += 10
                wait_until(lambda: one(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                           "'onemap-ingest' AND wait_event_type = 'Lock'")[0],
                           "the worker to wait inside its batch")
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
                blocker.rollback()
            at_kill = stored()
            for payload in batches[100:]:   # while no worker runs: the broker queues them for the session
                publish(client, topic, payload)
                published += 10
            worker = start()
            wait_until(lambda: stored() >= published, f"{published} stored readings", timeout=30)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=20)
    assert at_kill < published
    assert stored() == published == 2000
    assert b"Traceback" not in err, err.decode(errors="replace")[-2000:]


def test_a_gateway_cannot_publish_for_another_enterprise(db: str, mqtt_broker: PrivateBroker, site: dict) -> None:
    a, b = site["a"], site["b"]
    t = clock.now().replace(microsecond=0) - timedelta(minutes=1)
    before_b = len(readings(db, b["sensor"]))
    with running_worker(db, mqtt_broker, "test-acl") as worker, publisher(mqtt_broker, a["gateway"]) as client:
        # under B's topic: the broker's ACL drops it
        publish(client, readings_topic(b["enterprise"], b["gateway"]),
                encode([{"device": b["sensor"], "ts": t, "value": 40.0, "unit": "%LEL"}]))
        # B's sensor under A's own topic: the broker passes it, the worker rejects it (not A's device)
        publish(client, readings_topic(a["enterprise"], a["gateway"]),
                encode([{"device": b["sensor"], "ts": t, "value": 41.0, "unit": "%LEL"}]))
        # then one of A's own readings: once it is stored, everything before it has been handled
        publish(client, readings_topic(a["enterprise"], a["gateway"]),
                encode([{"device": a["sensor"], "ts": t, "value": 3.0, "unit": "%LEL"}]))
        wait_until(lambda: worker.totals.get("messages", 0) >= 2, "A's messages")
    assert worker.totals["messages"] == 2 and worker.totals["rejected"] == 1 and worker.totals["stored"] == 1
    assert len(readings(db, b["sensor"])) == before_b
    assert (t, 3.0) in readings(db, a["sensor"])


def test_malformed_payloads_are_counted_and_logged_and_the_worker_goes_on(
        db: str, mqtt_broker: PrivateBroker, site: dict, caplog: pytest.LogCaptureFixture) -> None:
    a = site["a"]
    topic = readings_topic(a["enterprise"], a["gateway"])
    t = clock.now().replace(microsecond=0) - timedelta(minutes=2)
    good = {"device": a["sensor"], "ts": t.isoformat(), "value": 4.0, "unit": "%LEL"}
    bad = [b"\xff\xfe not json", b"[]", b'{"readings": []}', b'{"device": "X", "value": 1}',
           yaml.safe_dump({"device": a["sensor"], "ts": t.replace(tzinfo=None).isoformat(), "value": 1.0,
                           "unit": "%LEL"}).encode(),                       # YAML, not JSON
           encode([{**good, "ts": t.replace(tzinfo=None), "value": 1.0}]),   # a time without UTC offset
           encode([{**good, "ts": t, "value": "NaN"}]),
           encode([{**good, "ts": t, "device": "A\u0000B"}]),               # COPY would refuse the NUL
           encode([{**good, "ts": t, "value": 1.0}, {"device": a["sensor"], "ts": t}])]  # one bad reading of two
    before = one(db, "SELECT coalesce(max(value), 0) FROM monitoring_counters WHERE counter = 'malformed'")[0]
    caplog.set_level(logging.WARNING, logger="supervision.monitoring.ingest")
    with running_worker(db, mqtt_broker, "test-bad") as worker, publisher(mqtt_broker, a["gateway"]) as client:
        for payload in bad:
            publish(client, topic, payload)
        publish(client, topic, encode([{**good, "ts": t}]))
        wait_until(lambda: worker.totals.get("messages", 0) >= len(bad) + 1, "all messages")
    assert worker.totals["malformed"] == len(bad) and worker.totals["stored"] == 1
    assert one(db, "SELECT value FROM monitoring_counters WHERE counter = 'malformed'")[0] == before + len(bad)
    assert readings(db, a["sensor"]).count((t, 4.0)) == 1 and (t, 1.0) not in readings(db, a["sensor"])
    logged = [r.getMessage() for r in caplog.records if "malformed message" in r.getMessage()]
    assert len(logged) == len(bad) and any("no UTC offset" in m for m in logged)


def test_one_simulated_round_reaches_every_demo_sensor(db: str, mqtt_broker: PrivateBroker, site: dict) -> None:
    from supervision.monitoring import simulate

    n_sensors = one(db, "SELECT count(*) FROM monitoring_sensors")[0]
    with running_worker(db, mqtt_broker, "test-sim") as worker:
        published = simulate.run(db, mqtt_broker, 1000, simulate.Scenario(), threading.Event(), once=True)
        wait_until(lambda: worker.totals.get("readings", 0) >= published, "the simulated round")
    assert published == n_sensors >= 800
    assert worker.totals["stored"] == n_sensors and worker.totals.get("rejected", 0) == 0
    assert one(db, "SELECT count(*) FROM monitoring_latest")[0] == n_sensors
    # normal operation raises no level alarm (the demo city is quiet until a scenario says otherwise)
    assert one(db, "SELECT count(*) FROM monitoring_alarms a WHERE a.kind = 'level' AND a.state = 'active' AND "
                   "a.sensor_code <> ALL(%s)", [site["a"]["sensor"]])[0] == 0


def test_the_background_worker_of_onemap_serve_ingests(db: str, mqtt_broker: PrivateBroker, site: dict,
                                                        tmp_path: Path) -> None:
    """`onemap serve` runs `onemap worker` beside gunicorn; the monitoring manifest's background loop is in it."""
    a = site["a"]
    t = clock.now().replace(microsecond=0) - timedelta(minutes=3)
    client_id = "test-background"
    with running_worker(db, mqtt_broker, client_id):
        pass  # the session exists: what is published next waits for the worker
    with publisher(mqtt_broker, a["gateway"]) as client:
        publish(client, readings_topic(a["enterprise"], a["gateway"]),
                encode([{"device": a["sensor"], "ts": t, "value": 7.5, "unit": "%LEL"}]))
    env = {**os.environ, "DATABASE_URL": db, "ONEMAP_MQTT_PORT": str(mqtt_broker.port),
           "ONEMAP_MQTT_DIR": str(mqtt_broker.base), "ONEMAP_MQTT_CLIENT_ID": client_id, "ONEMAP_VAR": str(tmp_path)}
    env.pop("ONEMAP_CONFIG", None)
    worker = subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['worker'])"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (t, 7.5) in readings(db, a["sensor"]), "the background worker to store the reading")
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=20)
    assert b"supervision.monitoring.ingest:background" in out
    assert worker.returncode == 0, err.decode(errors="replace")[-2000:]


def test_partitions_are_made_ahead_and_dropped_after_the_retention(db: str) -> None:
    from supervision.monitoring import storage

    today = clock.today()
    with psycopg.connect(db) as conn:
        storage.ensure_partitions(conn, [today - timedelta(days=d) for d in (40, 39)] + [today + timedelta(days=2)])
        conn.execute("INSERT INTO monitoring_agg_1h VALUES ('X', %s, 1, 1, 1, 1)",
                     (clock.now() - timedelta(days=40),))
        days = storage.existing_partitions(conn)
        assert {today - timedelta(days=40), today + timedelta(days=2)} <= days
        dropped = storage.drop_expired(conn, today, retention_days=39)
        assert dropped == [storage.partition_name(today - timedelta(days=40))]
        assert today - timedelta(days=39) in storage.existing_partitions(conn)
        assert conn.execute("SELECT count(*) FROM monitoring_agg_1h WHERE sensor_code = 'X'").fetchone()[0] == 0
        # BRIN on time reaches every partition
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexdef LIKE '%%brin%%'",
                            (storage.partition_name(today + timedelta(days=2)),)).fetchone()[0] == 1
        conn.rollback()


def test_stale_data_is_swept_on_the_test_clock_and_cleared_by_the_next_reading(db: str, site: dict) -> None:
    from supervision.monitoring import alarms

    sensor = site["b"]["sensor"]
    book = alarms.RuleBook(RULES)
    with psycopg.connect(db) as conn:
        book.reload(conn)
        last = clock.now().replace(microsecond=0) - timedelta(hours=1)
        conn.execute("INSERT INTO monitoring_latest (sensor_code, ts, value, quality) VALUES (%s, %s, 1, 0) "
                     "ON CONFLICT (sensor_code) DO UPDATE SET ts = excluded.ts", (sensor, last))
        with clock.freeze(last + timedelta(seconds=299)):
            alarms.sweep_stale(conn, book, clock.now())
        assert conn.execute("SELECT count(*) FROM monitoring_alarms WHERE sensor_code = %s AND rule = 'stale'",
                            (sensor,)).fetchone()[0] == 0
        with clock.freeze(last + timedelta(seconds=300)):
            first = alarms.sweep_stale(conn, book, clock.now())
            again = alarms.sweep_stale(conn, book, clock.now())
        assert first.counts.get("alarms_raise") and not again.counts.get("alarms_raise")
        assert len(first.alarms) == 1 and first.statuses == [(sensor, "offline")] and not again.alarms
        status = [conn.execute("SELECT status FROM sensors WHERE code = %s", (sensor,)).fetchone()[0]]
        alarms.run_rules(conn, book, [(sensor, last + timedelta(seconds=400), 1.0, 0, True)])
        rows = conn.execute("SELECT state, cleared_at FROM monitoring_alarms WHERE sensor_code = %s AND rule = 'stale'",
                            (sensor,)).fetchall()
        status.append(conn.execute("SELECT status FROM sensors WHERE code = %s", (sensor,)).fetchone()[0])
        conn.rollback()
    assert rows == [("cleared", last + timedelta(seconds=400))]
    assert status == ["offline", "normal"]   # no data: offline on the map; data again: normal


def test_an_alarm_outranks_a_device_fault_on_the_map(db: str, site: dict) -> None:
    from supervision.monitoring import alarms

    sensor = site["a"]["more"][0]
    now = clock.now()
    with psycopg.connect(db) as conn:
        def status_with(*kinds: str) -> str:
            conn.execute("DELETE FROM monitoring_alarms WHERE sensor_code = %s", (sensor,))
            for i, kind in enumerate(kinds):
                conn.execute("INSERT INTO monitoring_alarms (sensor_code, rule, kind, level, value, threshold, message, "
                             "raised_at, updated_at) VALUES (%s, %s, %s, 1, 1, 1, 'x', %s, %s)",
                             (sensor, f"r{i}", kind, now, now))
            alarms.sync_status(conn, [sensor])
            return conn.execute("SELECT status FROM sensors WHERE code = %s", (sensor,)).fetchone()[0]

        seen = {kinds: status_with(*kinds) for kinds in
                [("level",), ("stale",), ("flat_line",), ("stale", "rate"), ("level", "flat_line"), ()]}
        conn.rollback()
    assert seen == {("level",): "alarm", ("stale",): "offline", ("flat_line",): "offline",
                    ("stale", "rate"): "alarm", ("level", "flat_line"): "alarm", (): "normal"}


def test_a_reporting_sensor_shows_its_own_state_not_the_demo_s(db: str, site: dict) -> None:
    from supervision.monitoring import alarms

    sensor = site["a"]["more"][1]
    book = alarms.RuleBook(RULES)
    with psycopg.connect(db) as conn:
        book.reload(conn)
        conn.execute("UPDATE sensors SET status = 'alarm' WHERE code = %s", (sensor,))   # as the city was built
        counts = alarms.run_rules(conn, book, [(sensor, clock.now().replace(microsecond=0), 3.0, 0, True)])
        status = conn.execute("SELECT status FROM sensors WHERE code = %s", (sensor,)).fetchone()[0]
        conn.rollback()
    assert status == "normal" and counts.counts == {"sensor_status": 1}   # a quiet 3 %LEL: no alarm raised
    assert counts.statuses == [(sensor, "normal")] and counts.alarms == []


def _simulator_settings(db: str, broker: PrivateBroker, **simulate: Any) -> dict[str, Any]:
    from core.config import load_config

    return load_config({"database": {"url": db},
                        "monitoring": {"broker": {"dir": str(broker.base), "port": broker.port, "host": broker.host},
                                       "simulate": simulate}}, environ={})


def test_the_demo_simulator_runs_beside_the_server_only_when_asked(db: str, mqtt_broker: PrivateBroker,
                                                                   site: dict) -> None:
    """`make run` sets ONEMAP_MQTT_SIMULATE: the demo city's sensors then report through their gateways, each
    within a round, and the map is alive; a deployment (the default) publishes nothing."""
    from supervision.monitoring import simulate

    quiet = threading.Event()
    simulate.background(_simulator_settings(db, mqtt_broker, enabled=False), quiet)  # returns at once: nothing runs
    start = clock.now().replace(microsecond=0)
    n_sensors = one(db, "SELECT count(*) FROM monitoring_sensors")[0]
    stop = threading.Event()
    settings = _simulator_settings(db, mqtt_broker, enabled=True, rate=400)
    thread = threading.Thread(target=simulate.background, args=(settings, stop), daemon=True)
    with running_worker(db, mqtt_broker, "test-simulate"):
        thread.start()
        try:
            wait_until(lambda: one(db, "SELECT count(DISTINCT sensor_code) FROM monitoring_readings WHERE ts >= %s",
                                   start)[0] == n_sensors, "every demo sensor to report")
        finally:
            stop.set()
            thread.join(30)
    assert not thread.is_alive()
    assert one(db, "SELECT count(*) FROM sensors WHERE status <> 'normal' AND code IN "
                   "(SELECT sensor_code FROM monitoring_latest WHERE ts >= %s)", start)[0] == \
        one(db, "SELECT count(DISTINCT sensor_code) FROM monitoring_alarms WHERE state = 'active'")[0]


def test_alarms_and_statuses_reach_subscribers_once_committed_tagged_with_the_sensor_s_owner(
        db: str, mqtt_broker: PrivateBroker, site: dict) -> None:
    """The worker is another process in production: its events go through the database (LISTEN/NOTIFY)."""
    from core.realtime import ScopeTag
    from core.realtime_pg import PostgresBroker

    b = site["b"]
    sensor, topic = b["sensor"], readings_topic(b["enterprise"], b["gateway"])
    owner = one(db, "SELECT s.district_code, h.enterprise_uscc, s.hazard_source_code FROM sensors s JOIN "
                    "hazard_sources h ON h.code = s.hazard_source_code WHERE s.code = %s", sensor)
    web = PostgresBroker(db, "onemap:events")           # what a web worker's SSE streams listen to
    previous = realtime_use(PostgresBroker(db, "onemap:events"))   # what the ingest worker publishes with
    stream = web.subscribe(timeout=10, announce=True)
    next(stream)
    t = clock.now().replace(microsecond=0) + timedelta(minutes=3)
    try:
        with running_worker(db, mqtt_broker, "test-events") as worker, \
                publisher(mqtt_broker, b["gateway"]) as client:
            publish(client, topic, encode([{"device": sensor, "ts": t, "value": 60.0, "unit": "%LEL"}]))
            wait_until(lambda: worker.totals.get("alarms_raise", 0) >= 2, "the level-1 and level-2 alarms")
            publish(client, topic, encode([{"device": sensor, "ts": t + timedelta(seconds=1), "value": 61.0,
                                            "unit": "%LEL"}]))   # a repeat: no event
            publish(client, topic, encode([{"device": sensor, "ts": t + timedelta(seconds=2), "value": 1.0,
                                            "unit": "%LEL"}]))
            wait_until(lambda: worker.totals.get("alarms_clear", 0) >= 2, "the clears")
        got, others = [], []
        while len(got) < 6 or sum(e.type == "monitoring.warning_level" for e in others) < 2:
            event = next(stream)
            assert event is not None, f"only {got} and {others}"
            (got if event.type in ("monitoring.alarm", "monitoring.sensor_status") else others).append(event)
    finally:
        stream.close()
        web.close()
        realtime_use(previous).close()
    # besides: the leak's one 报警处置 case (opened by 二级 with its notice, 一级 joining it, the clear recorded once
    # the last alarm cleared), and the hazard source's warning level (red, then none); a batch's case events come
    # before its warning levels
    assert sorted(e.type for e in others) == ["case.notice", "case.opened", "case.transition", "case.transition",
                                              "monitoring.warning_level", "monitoring.warning_level"]
    assert [e.data["action"] for e in others if e.type == "case.transition"] == ["join_active",
                                                                                 "clear_unacknowledged"]
    levels = [(e.data["previous"], e.data["level"], e.scope) for e in others if e.type == "monitoring.warning_level"]
    assert levels == [(None, "red", ScopeTag("hazard_sources", owner[0], owner[1])),
                      ("red", None, ScopeTag("hazard_sources", owner[0], owner[1]))]
    tag = ScopeTag("sensors", owner[0], owner[1])
    assert all(e.scope == tag for e in got)
    kinds = [(e.type, e.data.get("rule"), e.data.get("action") or e.data.get("status")) for e in got]
    assert sorted(kinds[:2]) == [("monitoring.alarm", "gas_level_1", "raise"), ("monitoring.alarm", "gas_level_2",
                                                                                  "raise")]
    assert kinds[2] == ("monitoring.sensor_status", None, "alarm")
    assert sorted(kinds[3:5]) == [("monitoring.alarm", "gas_level_1", "clear"), ("monitoring.alarm", "gas_level_2",
                                                                                  "clear")]
    assert kinds[5] == ("monitoring.sensor_status", None, "normal")
    raised = got[0].data
    assert (raised["sensor_code"], raised["hazard_source_code"], raised["enterprise_uscc"], raised["unit"]) == (
        sensor, owner[2], owner[1], "%LEL")
    assert raised["value"] == 60.0 and raised["state"] == "active" and -180 <= raised["lon"] <= 180
    assert len({e.data["case_id"] for e in got if e.type == "monitoring.alarm"}) == 1   # one case for the leak


def realtime_use(broker: Any) -> Any:
    from core import realtime

    return realtime.use_broker(broker)


# the last tests of the module: they leave alarms, cases and newer latest values on the site's sensors
def test_the_worker_s_rule_states_in_memory_are_those_committed(
        db: str, mqtt_broker: PrivateBroker, site: dict) -> None:
    """The worker keeps the rule states between batches instead of reading them back: after a stream that moves
    them (a delay pending, a trend's buckets, an alarm raised and cleared), what it holds is what is stored."""
    from supervision.monitoring import alarms

    b = site["b"]   # a sensor of its own (the other tests count the readings of site a's)
    sensor, topic = b["sensor"], readings_topic(b["enterprise"], b["gateway"])
    t0 = clock.now().replace(microsecond=0) - timedelta(minutes=30)
    values = [3.0 + i * 0.5 for i in range(40)] + [60.0, 61.0, 2.0, 2.0]   # a climb, a leak, back to normal
    with running_worker(db, mqtt_broker, "test-states") as worker, publisher(mqtt_broker, b["gateway"]) as client:
        for i in range(0, len(values), 4):
            publish(client, topic, encode([{"device": sensor, "ts": t0 + timedelta(seconds=10 * k), "value": v,
                                            "unit": "%LEL"} for k, v in enumerate(values[i:i + 4], start=i)]))
        wait_until(lambda: worker.totals.get("stored", 0) >= len(values), "the stream")
        wait_until(lambda: worker.states._states is not None, "the worker to hold the rule states")
        with psycopg.connect(db) as conn:
            held = {k: v for k, v in worker.states.of(conn).items() if k[0] == sensor}
            stored = {k: v for k, v in alarms.RuleStates().of(conn).items() if k[0] == sensor}
    assert held == stored
    assert {rule for _, rule in stored} >= {"gas_level_1", "gas_level_2", "gas_trend"}
    assert one(db, "SELECT count(*) FROM monitoring_alarms WHERE sensor_code = %s AND rule = 'gas_level_2' "
                   "AND state = 'cleared'", sensor) == (1,)


def test_one_worker_ingests_a_database_at_a_time(db: str, mqtt_broker: PrivateBroker, site: dict,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A second worker (another ``onemap ingest`` beside ``onemap serve``'s) waits for the database's ingest lock,
    saying who holds it, and takes over when the first stops."""
    from supervision.monitoring.ingest import IngestWorker

    a = site["a"]
    t = clock.now().replace(microsecond=0) - timedelta(minutes=1)
    second = IngestWorker(db, mqtt_broker.host, mqtt_broker.port, *mqtt_broker.ingest_credentials(), RULES,
                          client_id="test-lock-second", batch_interval_ms=50)
    stop = threading.Event()
    thread = threading.Thread(target=second.run, args=(stop,), daemon=True)
    try:
        with caplog.at_level(logging.WARNING, logger="supervision.monitoring.ingest"), \
                running_worker(db, mqtt_broker, "test-lock-first"):
            thread.start()
            wait_until(lambda: "another ingest worker holds this database (session pid " in caplog.text,
                       "the second worker to wait for the lock")
            assert "onemap-ingest" in caplog.text and not second.ready.is_set()
        assert second.ready.wait(20), "the second worker did not take over"
        assert "took over the database's ingest lock" in caplog.text
        with publisher(mqtt_broker, a["gateway"]) as client:
            publish(client, readings_topic(a["enterprise"], a["gateway"]),
                    encode([{"device": a["sensor"], "ts": t, "value": 4.5, "unit": "%LEL"}]))
        wait_until(lambda: (t, 4.5) in readings(db, a["sensor"]), "the second worker to store a reading")
    finally:
        stop.set()
        thread.join(10)
