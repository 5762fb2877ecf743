"""What the monitoring ingest tests share: the rules, a clone of the demo city with two enterprises' gateways on
the session's private broker, a publisher, a running worker, and small readers."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import yaml

from core.manifest import resource
from supervision.monitoring.broker import PrivateBroker
from supervision.monitoring.ingest import IngestWorker, libpq_url
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


@contextmanager
def cloned(pg_cluster: Any, name: str) -> Iterator[str]:
    """A clone of the demo city for one test module (a libpq URL), dropped afterwards."""
    url = libpq_url(clone_database(pg_cluster, name))
    yield url
    drop_database(pg_cluster, name)


def register_site(db: str, mqtt_broker: PrivateBroker) -> dict[str, Any]:
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
