"""Benchmark of alarm latency: from an MQTT publish by a gateway to the ``monitoring.alarm`` event in a signed-in
SSE client, side by side with a bare publish → subscribe loopback through the same broker.

Run from the repository root, against a database with the demo city (``onemap demo build``), with ``PORT`` free::

    .venv/bin/python bench/alarm_latency_bench.py [--alarms 300] [--spacing-s 0.3] [--port 8612]
        [--out bench/reports/alarm-latency.md]

The production chain, each part a process of its own as ``onemap serve`` runs them: a private Mosquitto (a
temporary directory, a free port) → ``onemap serve`` on ``--port`` (gunicorn, gthread) and its ``onemap worker``
process with the ingest loop → PostgreSQL (readings committed, alarm rules run, the event published through the
realtime backend) → the web worker's SSE stream ``GET /api/events/stream`` → the client, signed in as the demo
dispatcher through ``POST /api/auth/login`` (password and TOTP).

One combustible-gas detector of the demo city alternates between 30 %LEL (raises 一级, threshold 25) and 5 %LEL
(clears it, below the 2 %LEL deadband): each reading yields one ``monitoring.alarm`` event of rule ``gas_level_1``,
``action`` raise or clear. One alarm at a time: the next reading goes out ``--spacing-s`` after the previous event
arrived. Latency = the client's receipt of the event − the moment before ``publish()`` (``time.time`` in the same
process). The loopback: the same gateway's credential publishes QoS 1 to a topic of its own that a client of the
ingest account subscribes to (QoS 1), the same number of times at the same spacing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402

RULE = "gas_level_1"
HIGH, LOW = 30.0, 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], p: float) -> float:
    s = sorted(samples)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def stats(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50": percentile(samples, 50), "p90": percentile(samples, 90),
            "p99": percentile(samples, 99), "max": max(samples, default=float("nan")),
            "mean": statistics.mean(samples) if samples else float("nan")}


# -- the server ---------------------------------------------------------------------------------------------------
def start_server(port: int, broker: Any, client_id: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PORT": str(port), "ONEMAP_MQTT_PORT": str(broker.port), "ONEMAP_MQTT_DIR": str(broker.base),
           "ONEMAP_MQTT_CLIENT_ID": client_id, "ONEMAP_MQTT_INGEST": "1", "ONEMAP_MQTT_SIMULATE": "0"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['serve'])"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_http(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status in (200, 503):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server did not answer on port {port} within {timeout:.0f} s")


def wait_subscribed(broker: Any, client_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = broker.logfile.read_text(errors="replace") if broker.logfile.exists() else ""
        if any(line.split(": ", 1)[-1].startswith(f"{client_id} ") and "onemap/v1/" in line
               for line in text.splitlines()):
            return
        time.sleep(0.2)
    raise SystemExit(f"the ingest worker did not subscribe within {timeout:.0f} s (log: {broker.logfile})")


def sign_in(port: int) -> str:
    """The demo dispatcher's session cookie (``name=value``), signed in with password and TOTP."""
    import pyotp

    from access.demo import DEMO_PASSWORD, DEMO_USERS

    secret = next(u.totp_secret for u in DEMO_USERS if u.username == "dispatcher")
    for attempt in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/api/auth/login", json.dumps({"username": "dispatcher", "password": DEMO_PASSWORD,
                                                            "totp": pyotp.TOTP(secret).now()}),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status == 200:
            cookies = [h.split(";", 1)[0] for k, h in response.getheaders() if k.lower() == "set-cookie"]
            return "; ".join(cookies)
        if attempt < 2:   # a TOTP code is good once per 30 s step: wait for the next one
            time.sleep(31 - time.time() % 30)
    raise SystemExit(f"signing in as the dispatcher failed: {response.status} {body[:300]!r}")


class SseClient(threading.Thread):
    """Reads ``/api/events/stream`` and notes when each ``monitoring.alarm`` of the rule arrives."""

    def __init__(self, port: int, cookie: str) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", "/api/events/stream", headers={"Cookie": cookie, "Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise SystemExit(f"the event stream answered {self.response.status}")
        self.connected = threading.Event()
        self.events: list[tuple[float, dict]] = []
        self.cond = threading.Condition()
        self.other = 0

    def run(self) -> None:
        fp = self.response.fp
        while True:
            line = fp.readline()
            if not line:
                return
            if line.startswith(b": connected"):
                self.connected.set()
            if not line.startswith(b"data: "):
                continue
            at = time.time()
            doc = json.loads(line[6:])
            if doc.get("type") == "monitoring.alarm" and doc["data"].get("rule") == RULE:
                with self.cond:
                    self.events.append((at, doc["data"]))
                    self.cond.notify_all()
            else:
                self.other += 1

    def wait_for(self, index: int, timeout: float) -> tuple[float, dict] | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events) <= index:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.events[index]


# -- the two measurements -------------------------------------------------------------------------------------------
def gateway_client(broker: Any, gateway: str, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.username_pw_set(*broker.gateway_credentials(gateway))
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def alarm_chain(broker: Any, sensor: tuple, sse: SseClient, n: int, spacing: float) -> tuple[list[float], int]:
    from supervision.monitoring.broker import readings_topic

    code, gateway, enterprise = sensor
    topic = readings_topic(enterprise, gateway)
    client = gateway_client(broker, gateway, f"bench-latency-{gateway}")

    def reading(value: float) -> bytes:
        return json.dumps({"device": code, "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                           "value": value, "unit": "%LEL"}).encode()

    # settle: a low reading, so the first high one raises (clears an alarm left active by an earlier run)
    client.publish(topic, reading(LOW), qos=1).wait_for_publish(10)
    time.sleep(3)
    latencies, missed = [], 0
    try:
        for i in range(n):
            seen = len(sse.events)
            value = HIGH if i % 2 == 0 else LOW
            sent = time.time()
            client.publish(topic, reading(value), qos=1)
            got = sse.wait_for(seen, timeout=10)
            if got is None:
                missed += 1
                print(f"  alarm {i}: no event within 10 s", flush=True)
            else:
                at, data = got
                expected = "raise" if value == HIGH else "clear"
                if data.get("action") != expected or data.get("sensor_code") != code:
                    raise SystemExit(f"alarm {i}: expected {expected} of {code}, got {data}")
                latencies.append(at - sent)
            time.sleep(spacing)
    finally:
        client.disconnect()
        client.loop_stop()
    return latencies, missed


def loopback(broker: Any, sensor: tuple, n: int, spacing: float) -> list[float]:
    from supervision.monitoring.broker import TOPIC_ROOT

    _, gateway, enterprise = sensor
    topic = f"{TOPIC_ROOT}/{enterprise}/{gateway}/loopback"
    got = threading.Event()
    arrived: list[float] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-loopback-sub")
    sub.username_pw_set(*broker.ingest_credentials())
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda _c, _u, _m: (arrived.append(time.time()), got.set())
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    sub.subscribe(topic, qos=1)
    if not subscribed.wait(10):
        raise SystemExit("the loopback subscriber was not subscribed")
    pub = gateway_client(broker, gateway, "bench-loopback-pub")
    latencies = []
    try:
        for i in range(n):
            got.clear()
            sent = time.time()
            pub.publish(topic, json.dumps({"i": i}), qos=1)
            if got.wait(10):
                latencies.append(arrived[-1] - sent)
            time.sleep(spacing)
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()
    return latencies


def run(args: argparse.Namespace) -> str:
    from core.config import load_config
    from core.db import database_url
    from supervision.monitoring.broker import PrivateBroker
    from supervision.monitoring.ingest import libpq_url

    db = libpq_url(database_url(load_config()))
    with psycopg.connect(db) as conn:
        sensor = conn.execute(
            "SELECT ms.sensor_code, g.code, g.enterprise_uscc FROM monitoring_sensors ms JOIN monitoring_gateways g "
            "ON g.code = ms.gateway_code WHERE ms.rule_set = 'combustible_gas' ORDER BY ms.sensor_code LIMIT 1"
        ).fetchone()
        gateways = conn.execute("SELECT code, enterprise_uscc FROM monitoring_gateways ORDER BY code").fetchall()
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    if sensor is None:
        raise SystemExit("no combustible-gas detector registered: run `onemap demo build` first")
    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-latency-", dir="/var/tmp"))
    broker = PrivateBroker(tmp / "mqtt", _free_port())
    broker.set_gateways(gateways)
    broker.start()
    client_id = f"bench-latency-ingest-{int(time.time())}"
    log = tmp / "server.log"
    server = None
    facts: dict[str, Any] = {"sensor": sensor[0], "load_before": os.getloadavg()[0]}
    tail = ""
    try:
        server = start_server(args.port, broker, client_id, log)
        wait_http(args.port)
        wait_subscribed(broker, client_id)
        cookie = sign_in(args.port)
        sse = SseClient(args.port, cookie)
        sse.start()
        if not sse.connected.wait(10):
            raise SystemExit("the event stream did not say connected")
        print(f"alarm chain: {args.alarms} alarms on {sensor[0]}", flush=True)
        chain, missed = alarm_chain(broker, sensor, sse, args.alarms, args.spacing_s)
        facts["load_during"] = os.getloadavg()[0]
        print(f"loopback: {args.alarms} messages", flush=True)
        loop = loopback(broker, sensor, args.alarms, args.spacing_s)
        facts.update(chain=stats(chain), missed=missed, loop=stats(loop), other_events=sse.other)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        broker.destroy()
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        if facts.get("chain") is None:
            print(tail)
        shutil.rmtree(tmp, ignore_errors=True)
    return report(args, facts, pg_version)


def report(args: argparse.Namespace, f: dict[str, Any], pg_version: str) -> str:
    import paho.mqtt

    mosq = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[:1]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    settings = __import__("core.config", fromlist=["load_config"]).load_config()
    batch_ms = settings["monitoring"]["batch_interval_ms"]
    backend = settings.get("realtime", {}).get("backend", "?")
    lines = [
        "# Alarm latency benchmark",
        "",
        f"Generated by `bench/alarm_latency_bench.py --alarms {args.alarms} --spacing-s {args.spacing_s:g}` at {now}.",
        f"Detector {f['sensor']} alternating {HIGH:g} / {LOW:g} %LEL (rule {RULE}: a raise, then a clear); "
        f"`onemap serve` (gunicorn gthread) with its worker process, realtime backend `{backend}`, the ingest "
        f"worker's batch interval {batch_ms} ms (ended early by a 20 ms lull); Python {platform.python_version()}, paho-mqtt "
        f"{paho.mqtt.__version__}, PostgreSQL {pg_version}, {(mosq or ['mosquitto'])[0]}; {os.cpu_count()} CPUs "
        f"shared with other users of the machine (load average {f['load_before']:.2f} before, "
        f"{f['load_during']:.2f} after the alarm chain).",
        "",
        "| path | n | p50 ms | p90 ms | p99 ms | max ms | mean ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, s in (("MQTT publish → `monitoring.alarm` in the dispatcher's SSE stream", f["chain"]),
                     ("bare MQTT publish → subscribe loopback, same broker (QoS 1)", f["loop"])):
        lines.append(f"| {label} | {s['n']} | {s['p50'] * 1e3:.1f} | {s['p90'] * 1e3:.1f} | {s['p99'] * 1e3:.1f} | "
                     f"{s['max'] * 1e3:.1f} | {s['mean'] * 1e3:.1f} |")
    lines += ["", f"Alarms without an event within 10 s: {f['missed']}. Other events seen on the stream: "
                  f"{f['other_events']}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=300, help="alarms (raise and clear alternating; default 300)")
    parser.add_argument("--spacing-s", type=float, default=0.3, help="pause after each event (default 0.3 s)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8612")))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / "alarm-latency.md")
    args = parser.parse_args(argv)
    from bench.support import write_report

    return write_report(args.out, run(args))


if __name__ == "__main__":
    raise SystemExit(main())
