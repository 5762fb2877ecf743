"""The ingest path against the real broker and PostGIS: QoS 1 duplicates and late readings, a worker killed in the
middle of a stream, a gateway publishing under another enterprise, malformed payloads."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
import yaml

from core import clock
from core.manifest import resource
from supervision.monitoring.broker import PrivateBroker, readings_topic
from supervision.monitoring.ingest import IngestWorker, libpq_url
from supervision.monitoring.payload import encode
from tests.conftest import clone_database, drop_database

RULES = yaml.safe_load(resource("supervision.monitoring:rules.yaml").read_text(encoding="utf-8"))
ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def db(pg_cluster: Any, template_url: str) -> Iterator[str]:
    url = libpq_url(clone_database(pg_cluster, "mon_ingest"))
    yield url
    drop_database(pg_cluster, "mon_ingest")


@pytest.fixture(scope="module")
def site(db: str, mqtt_broker: PrivateBroker) -> dict[str, Any]:
    """Two enterprises' gateways with a combustible-gas sensor each, registered with the broker."""
    with psycopg.connect(db) as conn:
        mqtt_broker.set_gateways(conn.execute("SELECT code, enterprise_uscc FROM monitoring_gateways").fetchall())
        rows = conn.execute(
            "SELECT DISTINCT ON (g.enterprise_uscc) ms.sensor_code, g.code, g.enterprise_uscc FROM monitoring_sensors "
            "ms JOIN monitoring_gateways g ON g.code = ms.gateway_code WHERE ms.rule_set = 'combustible_gas' "
            "ORDER BY g.enterprise_uscc, ms.sensor_code LIMIT 2").fetchall()
        extra = conn.execute("SELECT ms.sensor_code FROM monitoring_sensors ms WHERE ms.gateway_code = %s AND "
                             "ms.rule_set = 'combustible_gas' ORDER BY 1 OFFSET 1 LIMIT 2", (rows[0][1],)).fetchall()
    mqtt_broker.reload()
    a, b = ({"sensor": s, "gateway": g, "enterprise": e} for s, g, e in rows)
    a["more"] = [r[0] for r in extra]
    wait_until(lambda: _can_connect(mqtt_broker, a["gateway"]), "the broker to accept the new gateways")
    return {"a": a, "b": b}


def _can_connect(broker: PrivateBroker, gateway: str) -> bool:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.username_pw_set(*broker.gateway_credentials(gateway))
    try:
        return client.connect(broker.host, broker.port) == 0 and _connack(client)
    finally:
        client.disconnect()


def _connack(client: mqtt.Client) -> bool:
    done = threading.Event()
    result: list[bool] = []
    client.on_connect = lambda *args: (result.append(not args[3].is_failure), done.set())
    client.loop_start()
    done.wait(5)
    client.loop_stop()
    return bool(result and result[0])


@contextmanager
def publisher(broker: PrivateBroker, gateway: str) -> Iterator[mqtt.Client]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{gateway}")
    client.username_pw_set(*broker.gateway_credentials(gateway))
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    """QoS 1, returning once the broker has acknowledged the message (PUBACK)."""
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(10)
    assert info.is_published()


@contextmanager
def running_worker(db: str, broker: PrivateBroker, client_id: str) -> Iterator[IngestWorker]:
    worker = IngestWorker(db, broker.host, broker.port, *broker.ingest_credentials(), RULES, client_id=client_id,
                          batch_interval_ms=50)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert worker.ready.wait(10), "the worker did not subscribe"
        yield worker
        assert thread.is_alive(), "the worker stopped"
    finally:
        stop.set()
        thread.join(10)


def readings(db: str, sensor: str) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT ts, value FROM monitoring_readings WHERE sensor_code = %s ORDER BY ts",
                            (sensor,)).fetchall()


def one(db: str, sql: str, *args: Any) -> Any:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, args).fetchone()


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


def test_a_broker_restart_mid_stream_loses_no_acknowledged_reading(
        db: str, mqtt_broker: PrivateBroker, site: dict) -> None:
    a = site["a"]
    sensors, topic = a["more"], readings_topic(a["enterprise"], a["gateway"])
    t0 = clock.now().replace(microsecond=0) - timedelta(hours=3)
    batches = [encode([{"device": sensors[i % 2], "ts": t0 + timedelta(seconds=10 * i + k), "value": 1.0,
                        "unit": "%LEL"} for k in range(10)]) for i in range(100)]

    def stored() -> int:
        return one(db, "SELECT count(*) FROM monitoring_readings WHERE sensor_code = ANY(%s) AND ts >= %s AND "
                       "ts < %s", sensors, t0, t0 + timedelta(seconds=1000))[0]

    with running_worker(db, mqtt_broker, "test-broker-restart") as worker:
        with publisher(mqtt_broker, a["gateway"]) as client:
            for payload in batches[:50]:
                publish(client, topic, payload)
        mqtt_broker.stop()     # whatever it acknowledged and had not delivered is in its persistence file
        mqtt_broker.start()
        with publisher(mqtt_broker, a["gateway"]) as client:
            for payload in batches[50:]:
                publish(client, topic, payload)
        wait_until(lambda: stored() >= 1000, "1000 stored readings", timeout=30)
    assert stored() == 1000
    assert worker.totals["stored"] == 1000


def test_a_lost_database_connection_mid_batch_is_survived(db: str, mqtt_broker: PrivateBroker, site: dict) -> None:
    """The worker's session is killed while its batch waits inside the transaction: it reconnects and retries."""
    a = site["a"]
    sensor, topic = a["more"][0], readings_topic(a["enterprise"], a["gateway"])
    t0 = clock.now().replace(microsecond=0) - timedelta(hours=4)
    payload = encode([{"device": sensor, "ts": t0 + timedelta(seconds=k), "value": 2.0, "unit": "%LEL"}
                      for k in range(20)])
    with running_worker(db, mqtt_broker, "test-db-loss") as worker, publisher(mqtt_broker, a["gateway"]) as client:
        with psycopg.connect(db) as blocker:
            blocker.execute("LOCK TABLE monitoring_latest IN ACCESS EXCLUSIVE MODE")
            publish(client, topic, payload)
            pid = wait_until(lambda: one(db, "SELECT pid FROM pg_stat_activity WHERE application_name = "
                                             "'onemap-ingest' AND wait_event_type = 'Lock'"), "the blocked batch")[0]
            assert one(db, "SELECT pg_terminate_backend(%s)", pid) == (True,)
            blocker.rollback()
        wait_until(lambda: worker.totals.get("stored", 0) >= 20, "the retried batch")
    assert one(db, "SELECT count(*) FROM monitoring_readings WHERE sensor_code = %s AND ts >= %s AND ts < %s",
               sensor, t0, t0 + timedelta(seconds=20)) == (20,)


def test_a_message_the_database_refuses_is_dropped_alone(db: str, mqtt_broker: PrivateBroker, site: dict) -> None:
    """Two finite values whose sum overflows a float8 make the aggregate update fail: the batch is stored message by
    message, the refused one is counted as failed, the others are stored and the worker goes on."""
    a = site["a"]
    sensor, topic = a["more"][1], readings_topic(a["enterprise"], a["gateway"])
    t = clock.now().replace(second=0, microsecond=0) - timedelta(hours=5)
    with running_worker(db, mqtt_broker, "test-refused") as worker, publisher(mqtt_broker, a["gateway"]) as client:
        publish(client, topic, encode([{"device": sensor, "ts": t, "value": 1.5e308, "unit": "%LEL"}]))
        publish(client, topic, encode([{"device": sensor, "ts": t + timedelta(seconds=1), "value": 1.5e308,
                                        "unit": "%LEL"}]))
        publish(client, topic, encode([{"device": sensor, "ts": t + timedelta(minutes=5), "value": 3.0,
                                        "unit": "%LEL"}]))
        wait_until(lambda: worker.totals.get("messages", 0) >= 3, "three messages")
    assert (worker.totals["stored"], worker.totals["failed"]) == (2, 1)
    assert [v for _, v in readings(db, sensor) if t <= _ < t + timedelta(minutes=6)] == [1.5e308, 3.0]


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
    # besides: each alarm's 报警处置 case (opened, its notice, the clear recorded), and the hazard source's warning
    # level (red, then none); a batch's case events come before its warning levels
    assert sorted(e.type for e in others) == ["case.notice", "case.notice", "case.opened", "case.opened",
                                              "case.transition", "case.transition", "monitoring.warning_level",
                                              "monitoring.warning_level"]
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


def realtime_use(broker: Any) -> Any:
    from core import realtime

    return realtime.use_broker(broker)
# -- resilience under a flowing stream: whatever the broker acknowledged to the gateway is stored ----------------
def stream(broker: PrivateBroker, gateway: str, topic: str, sensors: list[str], t0: Any, disrupt: Callable[[], None],
           n_messages: int = 240, per_message: int = 10, disrupt_at: int = 80) -> tuple[set, set]:
    """Publish ``n_messages`` QoS 1 messages at a steady pace (one every 25 ms) from a gateway whose client
    reconnects by itself; ``disrupt`` runs beside the stream (which goes on meanwhile) once ``disrupt_at`` messages
    are out. Returns (the instants sent, the instants of messages the broker acknowledged)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-stream-{gateway}")
    client.username_pw_set(*broker.gateway_credentials(gateway))
    client.reconnect_delay_set(1, 2)
    pubacks: set[int] = set()   # message ids the broker acknowledged (PUBACK)
    client.on_publish = lambda _c, _u, mid, _rc, _p: pubacks.add(mid)
    client.connect(broker.host, broker.port)
    client.loop_start()
    sent: list[tuple[mqtt.MQTTMessageInfo, list]] = []
    disruption = threading.Thread(target=disrupt, daemon=True)
    try:
        for i in range(n_messages):
            instants = [t0 + timedelta(seconds=i * per_message + k) for k in range(per_message)]
            info = client.publish(topic, encode([{"device": sensors[(i + k) % len(sensors)], "ts": at, "value": 1.0,
                                                  "unit": "%LEL"} for k, at in enumerate(instants)]), qos=1)
            sent.append((info, instants))
            if i == disrupt_at:
                disruption.start()
            time.sleep(0.025)
        disruption.join(60)
        assert not disruption.is_alive(), "the disruption did not end"
        # what was published while the broker was away is sent again once the client is back
        wait_until(lambda: all(info.mid in pubacks for info, _ in sent[-20:]), "the last messages' PUBACKs")
        time.sleep(0.5)
    finally:
        client.disconnect()
        client.loop_stop()
    return ({at for _, ats in sent for at in ats},
            {at for info, ats in sent if info.mid in pubacks for at in ats})


def stored_instants(db: str, sensors: list[str], t0: Any, t1: Any) -> set:
    with psycopg.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT ts FROM monitoring_readings WHERE sensor_code = ANY(%s) AND ts >= %s "
                                           "AND ts < %s", (sensors, t0, t1)).fetchall()}


def check_stream(db: str, sensors: list[str], t0: Any, sent: set, acked: set) -> None:
    t1 = max(sent) + timedelta(seconds=1)
    wait_until(lambda: stored_instants(db, sensors, t0, t1) >= acked, f"the {len(acked)} acknowledged readings",
               timeout=60)
    stored = stored_instants(db, sensors, t0, t1)
    assert len(acked) >= len(sent) // 2, "the stream hardly got through: the test proves nothing"
    assert acked <= stored <= sent   # nothing acknowledged is lost, nothing is invented
    # each instant once: no QoS 1 redelivery after the disruption was stored twice
    assert one(db, "SELECT count(*) FROM monitoring_readings WHERE sensor_code = ANY(%s) AND ts >= %s AND ts < %s",
               sensors, t0, t1)[0] == len(stored)


def test_a_broker_restart_while_a_stream_flows_loses_no_acknowledged_reading(
        db: str, mqtt_broker: PrivateBroker, site: dict, caplog: pytest.LogCaptureFixture) -> None:
    a = site["a"]
    sensors, topic = a["more"], readings_topic(a["enterprise"], a["gateway"])
    t0 = clock.now().replace(microsecond=0) - timedelta(hours=6)

    def restart_broker() -> None:
        time.sleep(0.3)                 # the worker is storing the stream's first batches
        mqtt_broker.stop()
        time.sleep(1.0)                 # the gateway keeps publishing into the void; its client queues them
        mqtt_broker.start()

    caplog.set_level(logging.INFO, logger="supervision.monitoring.ingest")
    with running_worker(db, mqtt_broker, "test-stream-broker"):
        sent, acked = stream(mqtt_broker, a["gateway"], topic, sensors, t0, restart_broker)
        check_stream(db, sensors, t0, sent, acked)
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost the broker" in m for m in messages) and any("session present: True" in m for m in messages)


def test_an_ingest_worker_killed_while_a_stream_flows_loses_no_acknowledged_reading(
        db: str, mqtt_broker: PrivateBroker, site: dict, tmp_path: Path) -> None:
    a = site["a"]
    sensors, topic = a["more"], readings_topic(a["enterprise"], a["gateway"])
    t0 = clock.now().replace(microsecond=0) - timedelta(hours=7)
    client_id = "test-stream-worker"
    with running_worker(db, mqtt_broker, client_id):
        pass  # the broker holds the session from now on
    env = {**os.environ, "DATABASE_URL": db, "ONEMAP_MQTT_PORT": str(mqtt_broker.port),
           "ONEMAP_MQTT_DIR": str(mqtt_broker.base), "ONEMAP_MQTT_CLIENT_ID": client_id, "ONEMAP_VAR": str(tmp_path)}
    env.pop("ONEMAP_CONFIG", None)

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['ingest'])"], env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    workers = [start()]

    def kill_and_restart() -> None:
        wait_until(lambda: stored_instants(db, sensors, t0, t0 + timedelta(days=1)), "the first stored readings")
        workers[0].send_signal(signal.SIGKILL)      # mid-batch or between batches: wherever it is
        workers[0].wait(10)
        time.sleep(1.0)                              # the stream goes on: the broker queues it for the session
        workers.append(start())

    try:
        sent, acked = stream(mqtt_broker, a["gateway"], topic, sensors, t0, kill_and_restart)
        check_stream(db, sensors, t0, sent, acked)
    finally:
        workers[-1].send_signal(signal.SIGTERM)
        _, err = workers[-1].communicate(timeout=20)
    assert workers[0].returncode == -signal.SIGKILL and workers[-1].returncode == 0
    assert b"Traceback" not in err, err.decode(errors="replace")[-2000:]


def test_a_database_restart_while_a_stream_flows_is_survived(
        db: str, pg_cluster: Any, mqtt_broker: PrivateBroker, site: dict, caplog: pytest.LogCaptureFixture) -> None:
    """The session's PostgreSQL is stopped and started again under the worker: it keeps its batch unacknowledged,
    reconnects with a backoff, logs the outage and its end, and drains what the broker queued meanwhile."""
    a = site["a"]
    sensors, topic = a["more"], readings_topic(a["enterprise"], a["gateway"])
    t0 = clock.now().replace(microsecond=0) - timedelta(hours=8)

    def restart_database() -> None:
        wait_until(lambda: stored_instants(db, sensors, t0, t0 + timedelta(days=1)), "the first stored readings")
        try:
            pg_cluster.stop()
            time.sleep(2.0)
        finally:
            pg_cluster.start()          # the cluster is the whole session's: it must come back whatever happened

    caplog.set_level(logging.INFO, logger="supervision.monitoring.ingest")
    with running_worker(db, mqtt_broker, "test-stream-db") as worker:
        sent, acked = stream(mqtt_broker, a["gateway"], topic, sensors, t0, restart_database)
        check_stream(db, sensors, t0, sent, acked)
        assert worker.totals.get("failed", 0) == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost the database" in m for m in messages), messages
    assert any("database connection restored" in m for m in messages), messages
    assert one(db, "SELECT count(*) FROM monitoring_sensors")[0] >= 800   # and the cluster serves the next tests
