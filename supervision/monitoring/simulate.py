"""A simulator of the demo city's sensors: realistic readings published through the broker as their gateways would.

Every registered sensor reports in turn, ``rate`` readings per second over all of them, one message per gateway
and round. Values: gas detectors near zero with noise (a toxic one below a fifth of its limit); tank levels
between their low and high set points drifting slowly; temperatures on a daily cycle (warmest at 14:00 China time)
below the high set point; pressures around 60 % of it. With ``scenario="leak"`` one combustible-gas detector (the
first by code, or ``leak_sensor``) sees a leak ``leak_after_s`` after the start that rises to 60 %LEL over
``leak_ramp_s``: it crosses 一级 (25 %LEL) and then 二级 (50 %LEL).

:func:`value` is pure (sensor, instant, seconds since the start): tests call it on a test clock.
"""

from __future__ import annotations

import logging
import math
import threading
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg

from core import clock
from supervision.monitoring.broker import PrivateBroker, readings_topic
from supervision.monitoring.payload import encode

log = logging.getLogger(__name__)

SENSORS = """
SELECT ms.sensor_code, ms.rule_set, s.unit, s.alarm_low, s.alarm_high, ms.range_low, ms.range_high, ms.gateway_code,
       g.enterprise_uscc
FROM monitoring_sensors ms JOIN sensors s ON s.code = ms.sensor_code JOIN monitoring_gateways g ON g.code = ms.gateway_code
ORDER BY ms.sensor_code
"""


@dataclass(frozen=True)
class SimSensor:
    code: str
    rule_set: str
    unit: str
    alarm_low: float | None
    alarm_high: float | None
    range_low: float | None
    range_high: float | None
    gateway: str
    enterprise: str


@dataclass(frozen=True)
class Scenario:
    name: str = "normal"
    leak_sensor: str | None = None
    leak_after_s: float = 30.0
    leak_ramp_s: float = 180.0
    leak_peak: float = 60.0


def _noise(code: str, at: datetime, scale: float) -> float:
    """Deterministic noise in [-scale, scale] from the sensor and the second (repeatable, no shared state)."""
    h = zlib.crc32(f"{code}{int(at.timestamp())}".encode()) / 0xFFFFFFFF
    return (2 * h - 1) * scale


def _phase(code: str) -> float:
    return (zlib.crc32(code.encode()) % 1000) / 1000


def value(s: SimSensor, at: datetime, elapsed_s: float, scenario: Scenario = Scenario()) -> float:
    """The reading of sensor ``s`` at ``at``, ``elapsed_s`` after the simulation started."""
    high = s.alarm_high or 1.0
    if s.rule_set == "combustible_gas":
        base = 1.0 + _noise(s.code, at, 0.8)
        if scenario.name == "leak" and s.code == scenario.leak_sensor and elapsed_s > scenario.leak_after_s:
            rise = min(1.0, (elapsed_s - scenario.leak_after_s) / scenario.leak_ramp_s)
            base += scenario.leak_peak * rise
        return round(max(0.0, base), 2)
    if s.rule_set == "toxic_gas":
        limit = s.alarm_low or high
        return round(max(0.0, limit * (0.05 + 0.05 * _phase(s.code)) + _noise(s.code, at, 0.03 * limit)), 3)
    if s.rule_set == "tank_level":
        low = s.alarm_low or 0.0
        middle = low + (high - low) * (0.35 + 0.3 * _phase(s.code))
        drift = 0.05 * (high - low) * math.sin(2 * math.pi * (elapsed_s / 7200 + _phase(s.code)))
        return round(middle + drift + _noise(s.code, at, 0.005), 3)
    if s.rule_set == "temperature":
        hour = at.astimezone(clock.CHINA).hour + at.minute / 60
        daily = 4.0 * math.cos(2 * math.pi * (hour - 14) / 24)
        return round(0.5 * high + daily + _noise(s.code, at, 0.3), 2)
    return round(0.6 * high + _noise(s.code, at, 0.01 * high), 3)  # pressure


def load_sensors(db_url: str) -> list[SimSensor]:
    with psycopg.connect(db_url) as conn:
        return [SimSensor(*row) for row in conn.execute(SENSORS).fetchall()]


def _clients(broker: PrivateBroker, gateways: set[str]) -> dict[str, mqtt.Client]:
    clients = {}
    for gw in sorted(gateways):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{gw}")
        c.username_pw_set(*broker.gateway_credentials(gw))
        c.connect(broker.host, broker.port, keepalive=60)
        c.loop_start()   # its own network thread: PUBACKs come back while the simulator sleeps between rounds
        clients[gw] = c
    return clients


def rounds(sensors: list[SimSensor], rate: float) -> Iterator[list[SimSensor]]:
    """Each second's share of the sensors, round-robin (``rate`` readings per second)."""
    per_tick = max(1, int(rate))
    i = 0
    while True:
        yield [sensors[(i + k) % len(sensors)] for k in range(min(per_tick, len(sensors)))]
        i = (i + per_tick) % len(sensors)


def run(db_url: str, broker: PrivateBroker, rate: float, scenario: Scenario, stop: threading.Event,
        once: bool = False) -> int:
    """Publish until ``stop`` (or one reading per sensor with ``once``); the number of readings published."""
    sensors = load_sensors(db_url)
    if not sensors:
        return 0
    if scenario.name == "leak" and scenario.leak_sensor is None:
        first = next((s.code for s in sensors if s.rule_set == "combustible_gas"), None)
        scenario = Scenario(scenario.name, first, scenario.leak_after_s, scenario.leak_ramp_s, scenario.leak_peak)
    clients = _clients(broker, {s.gateway for s in sensors})
    start = clock.now()
    published = 0
    pending: list[mqtt.MQTTMessageInfo] = []
    try:
        ticks = [sensors] if once else rounds(sensors, rate)
        for share in ticks:
            now = clock.now()
            by_gateway: dict[str, list[dict]] = {}
            for s in share:
                by_gateway.setdefault(s.gateway, []).append(
                    {"device": s.code, "ts": now, "value": value(s, now, (now - start).total_seconds(), scenario),
                     "unit": s.unit, "quality": 0})
            enterprise = {s.gateway: s.enterprise for s in share}
            for gw, items in by_gateway.items():
                for k in range(0, len(items), 500):
                    pending.append(clients[gw].publish(readings_topic(enterprise[gw], gw), encode(items[k:k + 500]),
                                                       qos=1))
                published += len(items)
            if once:
                for p in pending:
                    p.wait_for_publish(30)
                break
            pending = [p for p in pending if not p.is_published()]
            if stop.wait(max(0.0, 1.0 - (clock.now() - now).total_seconds())):
                break
    finally:
        for c in clients.values():
            c.disconnect()
            c.loop_stop()
    return published


def background(settings: Mapping[str, Any], stop: threading.Event) -> None:
    """``Manifest.background``: with ``monitoring.simulate.enabled`` (the demo under `make run`: ONEMAP_MQTT_SIMULATE),
    the demo city's sensors report through the private broker as their gateways would, so the map is alive. Off by
    default: a real deployment has real gateways. It waits for the ingest loop to start the broker (with the
    gateways' credentials) and starts again after a failure."""
    cfg = settings["monitoring"]
    sim = cfg["simulate"]
    if not sim["enabled"] or stop.is_set():
        return
    from core.config import resolve_path
    from core.db import database_url
    from supervision.monitoring.ingest import libpq_url

    b = cfg["broker"]
    broker = PrivateBroker(resolve_path(b["dir"]), b["port"], b["host"])
    db_url = libpq_url(database_url(dict(settings)))
    log.info("simulate: %s readings/s, scenario %s", sim["rate"], sim["scenario"])
    while not stop.is_set():
        if not broker.running():
            stop.wait(1)
            continue
        try:
            if run(db_url, broker, sim["rate"], Scenario(sim["scenario"]), stop) == 0:
                stop.wait(30)  # no sensor registered yet
        except Exception:  # noqa: BLE001 - the server keeps running; the simulator starts again
            log.exception("simulate: failed; starting again in 5 s")
            stop.wait(5)


__all__ = ["Scenario", "SimSensor", "background", "load_sensors", "rounds", "run", "value"]
