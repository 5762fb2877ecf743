"""The ingest worker under disruption, against the real broker and PostgreSQL: a broker restart, a lost or
restarted database, a killed worker, a message the database refuses — whatever the broker acknowledged to a gateway
is stored once, nothing is invented, the worker logs what happened and drains."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest

from core import clock
from supervision.monitoring.broker import PrivateBroker, readings_topic
from supervision.monitoring.payload import encode
from tests.integration.monitoring_support import (
    ROOT,
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
    with cloned(pg_cluster, "mon_resilience") as url:
        yield url


@pytest.fixture(scope="module")
def site(db: str, mqtt_broker: PrivateBroker) -> dict[str, Any]:
    return register_site(db, mqtt_broker)


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
