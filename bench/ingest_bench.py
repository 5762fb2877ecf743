"""Benchmark of monitoring ingest: a sustained stream of readings through the private broker into PostgreSQL, with
nothing lost, side by side with raw ``COPY`` of the same rows into the same table (the floor).

Run from the repository root, against a database with the demo city (``onemap demo build``)::

    .venv/bin/python bench/ingest_bench.py [--db URL] [--rate 10000] [--duration 600] [--publishers 2]
        [--per-message 250] [--backlog-s 30] [--out bench/reports/ingest.md]

What it does:

1. starts a private Mosquitto of its own (a temporary directory, a free port) with a credential for every
   registered gateway, and ``onemap ingest`` as a separate process (its own client id, a persistent session);
2. **sustained**: ``--publishers`` processes share the gateways; each gateway publishes, with QoS 1 under its own
   credential and topic, every reading of each of its sensors that falls due, in messages of up to
   ``--per-message`` readings (the payload format of the README), so that the whole city sends ``--rate`` readings
   per second for ``--duration`` seconds (timestamps are the real time of each reading: the alarm rules run on
   every reading as in production, values come from the demo simulator's model). A reading counts as published
   once the broker has acknowledged its message (PUBACK);
3. waits until the worker has stored them all and counts the rows in ``monitoring_readings``: published = stored,
   or the bench says how many are missing;
4. **capacity**: stops the worker, has the gateways publish ``--backlog-s`` seconds' worth of readings (queued by
   the broker in the worker's session), starts the worker again and times how fast it drains the backlog: the
   worker's throughput when it is the bottleneck, the figure to set beside the floor;
5. **floor**: the same rows (the first ``--floor-rows`` of them) (``COPY ... TO STDOUT`` of what the sustained phase stored), shifted to an empty day
   partition, written back with ``COPY ... FROM STDIN`` into ``monitoring_readings`` (same unique index, same
   BRIN), in transactions of ``batch_max`` rows as the worker commits, and as one ``COPY``; then removed again.

During the sustained phase it samples, every second, the CPU and resident memory of the worker process, of its
PostgreSQL backend and of the broker (``/proc``), and the load average. Wall-clock times from ``time.monotonic``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

TICK_S = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- the publishers (separate processes) ------------------------------------------------------------------------
def publisher(index: int, broker: dict, sensors: list[tuple], rate_per_sensor: float, start_at: float,
              duration: float, per_message: int, t0_iso: str, result: Any) -> None:
    """Publish the readings of ``sensors`` (``SimSensor`` fields) that fall due between ``start_at`` and
    ``start_at + duration`` (``time.time``), one message per gateway and tick; put (acked, sent, late) in ``result``."""
    import paho.mqtt.client as mqtt

    from supervision.monitoring.broker import PrivateBroker, readings_topic
    from supervision.monitoring.simulate import SimSensor, value

    sims = [SimSensor(*s) for s in sensors]
    by_gateway: dict[str, list[SimSensor]] = {}
    for s in sims:
        by_gateway.setdefault(s.gateway, []).append(s)
    pb = PrivateBroker(Path(broker["dir"]), broker["port"], broker["host"])
    clients: dict[str, mqtt.Client] = {}
    for gw in sorted(by_gateway):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{index}-{gw}")
        c.username_pw_set(*pb.gateway_credentials(gw))
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.connect(pb.host, pb.port, keepalive=60)
        c.loop_start()
        clients[gw] = c
    t0 = datetime.fromisoformat(t0_iso)
    period = 1.0 / rate_per_sensor
    n_per_sensor = int(duration * rate_per_sensor)
    pending: list[tuple[Any, int]] = []
    acked = sent = 0
    late_ticks = 0
    done = 0   # readings index per sensor already sent (the same for every sensor)
    while time.time() < start_at:
        time.sleep(0.01)
    while done < n_per_sensor:
        now = time.time()
        due = min(n_per_sensor, int((now - start_at) / period) + 1)
        if due > done:
            for gw, group in by_gateway.items():
                items = []
                for s in group:
                    for k in range(done, due):
                        at = t0 + timedelta(seconds=k * period)
                        items.append({"device": s.code, "ts": at.isoformat(timespec="milliseconds"),
                                      "value": value(s, at, k * period), "unit": s.unit})
                topic = readings_topic(group[0].enterprise, gw)
                for i in range(0, len(items), per_message):
                    chunk = items[i:i + per_message]
                    info = clients[gw].publish(topic, json.dumps({"readings": chunk}, ensure_ascii=False), qos=1)
                    pending.append((info, len(chunk)))
                    sent += len(chunk)
            done = due
        still = []
        for info, n in pending:
            if info.is_published():
                acked += n
            else:
                still.append((info, n))
        pending = still
        spent = time.time() - now
        if spent > TICK_S:
            late_ticks += 1
        time.sleep(max(0.0, TICK_S - spent))
    for info, n in pending:
        info.wait_for_publish(120)
        if info.is_published():
            acked += n
    for c in clients.values():
        c.disconnect()
        c.loop_stop()
    result.put((index, acked, sent, late_ticks))


# -- sampling /proc ----------------------------------------------------------------------------------------------
def _proc(pid: int) -> tuple[float, int] | None:
    """(CPU seconds, resident bytes) of ``pid``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        return (int(stat[11]) + int(stat[12])) / CLK_TCK, rss
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


class Sampler(threading.Thread):
    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.samples: dict[str, list[tuple[float, float, int]]] = {k: [] for k in pids}
        self.load: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            now = time.monotonic()
            for name, pid in self.pids.items():
                got = _proc(pid)
                if got:
                    self.samples[name].append((now, *got))
            self.load.append(os.getloadavg()[0])

    def summary(self, name: str) -> dict[str, float]:
        s = self.samples[name]
        if len(s) < 2:
            return {"cpu": float("nan"), "cpu_p95": float("nan"), "rss_max": float("nan"), "rss_end": float("nan")}
        per_s = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(s, s[1:], strict=False)]
        per_s.sort()
        return {"cpu": (s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0]), "cpu_p95": per_s[int(0.95 * (len(per_s) - 1))],
                "rss_max": max(x[2] for x in s) / 2**20, "rss_end": s[-1][2] / 2**20}


# -- helpers -----------------------------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stored_counter(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT value FROM monitoring_counters WHERE counter = 'stored'").fetchone()
    return row[0] if row else 0


def count_rows(db: str, t0: datetime, t1: datetime) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM monitoring_readings WHERE ts >= %s AND ts < %s",
                            (t0, t1)).fetchone()[0]


def start_worker(db: str, broker: Any, client_id: str, var: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db, "ONEMAP_MQTT_PORT": str(broker.port), "ONEMAP_MQTT_DIR": str(broker.base),
           "ONEMAP_MQTT_CLIENT_ID": client_id, "ONEMAP_VAR": str(var), "ONEMAP_MQTT_SIMULATE": "0"}
    env.pop("ONEMAP_CONFIG", None)
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['ingest'])"], env=env,
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def wait_subscribed(broker: Any, client_id: str, since: int, timeout: float = 60) -> None:
    """Until the broker's log shows the worker's subscription (logged after ``since`` bytes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with broker.logfile.open("rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            text = ""
        if any(line.split(": ", 1)[-1].startswith(f"{client_id} ") and "onemap/v1/" in line
               for line in text.splitlines()):
            return
        time.sleep(0.1)
    raise SystemExit(f"the worker did not subscribe within {timeout:.0f} s (log: {broker.logfile})")


def backend_pid(db: str, timeout: float = 30) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(db) as conn:
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'onemap-ingest' "
                               "ORDER BY backend_start DESC LIMIT 1").fetchone()
        if row:
            return row[0]
        time.sleep(0.2)
    return None


def publish_phase(args: argparse.Namespace, broker: Any, sensors: list, rate: float, duration: float,
                  t0: datetime) -> tuple[int, int, int, float]:
    """Run the publisher processes; (acked, sent, late ticks, seconds)."""
    groups: list[list[tuple]] = [[] for _ in range(args.publishers)]
    gateways = sorted({s.gateway for s in sensors})
    for s in sensors:
        groups[gateways.index(s.gateway) % args.publishers].append(tuple(s.__dict__.values()))
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    start_at = time.time() + 3.0
    t0 = t0 + timedelta(seconds=0)
    procs = [ctx.Process(target=publisher, args=(i, {"dir": str(broker.base), "port": broker.port,
                                                     "host": broker.host}, g, rate / len(sensors), start_at,
                                                 duration, args.per_message, t0.isoformat(), result))
             for i, g in enumerate(groups) if g]
    for p in procs:
        p.start()
    got = [result.get() for _ in procs]
    for p in procs:
        p.join()
    seconds = time.time() - start_at
    return sum(g[1] for g in got), sum(g[2] for g in got), sum(g[3] for g in got), seconds


def wait_drained(db: str, target: int, base: int, idle_timeout: float = 120) -> float:
    """Until the worker's ``stored`` counter has grown by ``target``; the monotonic time then (or when it stopped
    moving for ``idle_timeout`` seconds)."""
    last, last_move = -1, time.monotonic()
    while True:
        n = stored_counter(db) - base
        now = time.monotonic()
        if n >= target:
            return now
        if n != last:
            last, last_move = n, now
        elif now - last_move > idle_timeout:
            print(f"  the worker stopped storing at {n} of {target}", flush=True)
            return now
        time.sleep(0.2)


# -- the floor ---------------------------------------------------------------------------------------------------
def floor(db: str, t0: datetime, t1: datetime, batch: int, limit: int) -> dict[str, Any]:
    """Raw COPY of the rows stored in [t0, t1) (the first ``limit`` of them by time, 0: all) into the same table,
    shifted to an empty day partition."""
    from supervision.monitoring import storage

    with psycopg.connect(db) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        day = (t0 - timedelta(days=30)).date()
        shift = t0 - timedelta(days=30) - t0
        storage.ensure_partitions(conn, [day])
        conn.commit()
        part = storage.partition_name(day)
        if conn.execute(f"SELECT count(*) FROM {part}").fetchone()[0]:
            raise SystemExit(f"partition {part} is not empty: the floor needs an empty one")
        buf = bytearray()
        with conn.cursor().copy(
                "COPY (SELECT sensor_code, ts + %s, value, quality FROM monitoring_readings WHERE ts >= %s AND ts < %s "
                "ORDER BY ts LIMIT %s) TO STDOUT", (shift, t0, t1, limit or None)) as cp:
            for chunk in cp:
                buf += chunk
        lines = bytes(buf).splitlines(keepends=True)
        del buf
        out: dict[str, Any] = {"rows": len(lines)}
        for label, size in (("batched", batch), ("single", len(lines) or 1)):
            started = time.monotonic()
            for i in range(0, len(lines), size):
                with conn.cursor() as cur, cur.copy(
                        "COPY monitoring_readings (sensor_code, ts, value, quality) FROM STDIN") as cp:
                    cp.write(b"".join(lines[i:i + size]))
                conn.commit()
            out[label] = time.monotonic() - started
            out[f"{label}_count"] = conn.execute(f"SELECT count(*) FROM {part}").fetchone()[0]
            conn.execute(f"TRUNCATE {part}")
            conn.commit()
    return out


# -- the run -----------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> str:
    from supervision.monitoring.broker import PrivateBroker
    from supervision.monitoring.ingest import libpq_url
    from supervision.monitoring.simulate import load_sensors

    db = libpq_url(args.db)
    sensors = load_sensors(db)
    if not sensors:
        raise SystemExit("no registered sensors: run `onemap demo build` first")
    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-ingest-", dir="/var/tmp"))
    broker = PrivateBroker(tmp / "mqtt", _free_port())
    with psycopg.connect(db) as conn:
        broker.set_gateways(conn.execute("SELECT code, enterprise_uscc FROM monitoring_gateways ORDER BY code"))
        batch_max = 5000
    broker.start()
    client_id = f"bench-ingest-{int(time.time())}"
    worker_log = tmp / "worker.log"
    facts: dict[str, Any] = {"sensors": len(sensors), "gateways": len({s.gateway for s in sensors}),
                             "load_before": os.getloadavg()}
    worker = None
    try:
        log_at = broker.logfile.stat().st_size if broker.logfile.exists() else 0
        worker = start_worker(db, broker, client_id, tmp, worker_log)
        wait_subscribed(broker, client_id, log_at)
        pg_pid = backend_pid(db)
        broker_pid = int(broker.pid_file.read_text())
        sampler = Sampler({"worker": worker.pid, "worker's PostgreSQL backend": pg_pid or -1, "broker": broker_pid})

        # 1. sustained
        t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        base = stored_counter(db)
        print(f"sustained: {args.rate:g} readings/s for {args.duration:g} s over {len(sensors)} sensors, "
              f"{facts['gateways']} gateways, {args.publishers} publisher processes", flush=True)
        sampler.start()
        started = time.monotonic()
        acked, sent, late, pub_s = publish_phase(args, broker, sensors, args.rate, args.duration, t0)
        published_at = time.monotonic()
        drained_at = wait_drained(db, acked, base)
        sampler.stop.set()
        t1 = t0 + timedelta(seconds=args.duration + 5)
        stored = count_rows(db, t0, t1)
        facts.update(acked=acked, sent=sent, late_ticks=late, publish_s=pub_s, stored=stored,
                     drain_after_publish_s=drained_at - published_at, sustained_s=drained_at - started - 3.0,
                     load_during=statistics.mean(sampler.load) if sampler.load else float("nan"),
                     load_max=max(sampler.load, default=float("nan")),
                     usage={k: sampler.summary(k) for k in sampler.pids})
        print(f"  acknowledged {acked} of {sent}, stored {stored}", flush=True)

        # 2. capacity: a backlog drained by a restarted worker
        if args.backlog_s > 0:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            tb = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
            b_acked, b_sent, _, b_pub = publish_phase(args, broker, sensors, args.rate, args.backlog_s, tb)
            base = stored_counter(db)
            log_at = broker.logfile.stat().st_size
            begun = time.monotonic()
            worker = start_worker(db, broker, client_id, tmp, worker_log)
            spy = None
            if args.profile:
                fmt = {".json": "speedscope", ".txt": "raw"}.get(args.profile.suffix, "flamegraph")
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(worker.pid),
                                        "-o", str(args.profile), "-f", fmt, "-r", "50", "--nonblocking", "--idle",
                                        "--threads"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_subscribed(broker, client_id, log_at)
            done = wait_drained(db, b_acked, base)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            b_stored = count_rows(db, tb, tb + timedelta(seconds=args.backlog_s + 5))
            facts.update(backlog=b_acked, backlog_sent=b_sent, backlog_stored=b_stored,
                         backlog_s=done - begun, backlog_publish_s=b_pub)
            print(f"  backlog of {b_acked} drained in {done - begun:.1f} s", flush=True)
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        worker = None

        # 3. the floor
        facts["floor"] = floor(db, t0, t1, batch_max, args.floor_rows)
        print(f"  floor: {facts['floor']}", flush=True)
        facts["load_after"] = os.getloadavg()
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        broker.destroy()
        tail = worker_log.read_text(errors="replace")[-3000:] if worker_log.exists() else ""
        shutil.rmtree(tmp, ignore_errors=True)
    facts["worker_log_tail"] = tail
    return report(args, facts)


def report(args: argparse.Namespace, f: dict[str, Any]) -> str:
    import paho.mqtt

    fl = f["floor"]
    rows = fl["rows"]
    sustained_rate = f["stored"] / f["sustained_s"] if f["sustained_s"] > 0 else float("nan")
    capacity = f["backlog_stored"] / f["backlog_s"] if f.get("backlog_s") else float("nan")
    floor_batched = rows / fl["batched"] if fl["batched"] else float("nan")
    floor_single = rows / fl["single"] if fl["single"] else float("nan")
    lost = f["acked"] - f["stored"]
    from supervision.monitoring.ingest import libpq_url

    with psycopg.connect(libpq_url(args.db)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    mosq = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[:1]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        "# Monitoring ingest benchmark",
        "",
        f"Generated by `bench/ingest_bench.py --rate {args.rate:g} --duration {args.duration:g} --publishers "
        f"{args.publishers} --per-message {args.per_message} --backlog-s {args.backlog_s:g}` at {now}.",
        f"{f['sensors']} demo sensors behind {f['gateways']} gateways (each its own credential and topic); QoS 1; "
        f"messages of up to {args.per_message} readings. Python {platform.python_version()}, paho-mqtt "
        f"{paho.mqtt.__version__}, PostgreSQL {pg}, {(mosq or ['mosquitto'])[0]}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs shared with the publishers, the broker and PostgreSQL (and other users of the "
        f"machine: load average {f['load_before'][0]:.2f} before, {f['load_during']:.2f} mean / "
        f"{f['load_max']:.2f} max during the sustained phase).",
        "",
        "## Nothing lost",
        "",
        "| phase | readings sent | acknowledged by the broker | stored | lost |",
        "|---|---:|---:|---:|---:|",
        f"| sustained {args.rate:g}/s × {args.duration:g} s | {f['sent']:,} | {f['acked']:,} | {f['stored']:,} | "
        f"{lost:,} |",
    ]
    if f.get("backlog") is not None:
        lines.append(f"| backlog (worker down, then restarted) | {f['backlog_sent']:,} | {f['backlog']:,} | "
                     f"{f['backlog_stored']:,} | {f['backlog'] - f['backlog_stored']:,} |")
    lines += [
        "",
        "## Throughput, side by side with the floor",
        "",
        f"The floor copies the first {rows:,} rows the sustained phase stored (by time).",
        "",
        "| what | readings | seconds | readings/s | of the floor (batched) |",
        "|---|---:|---:|---:|---:|",
        f"| ingest, sustained (offered {args.rate:g}/s; first publish to last stored) | {f['stored']:,} | "
        f"{f['sustained_s']:.1f} | {sustained_rate:,.0f} | {sustained_rate / floor_batched:.2f} |",
    ]
    if f.get("backlog_s"):
        lines.append(f"| ingest, capacity (a queued backlog drained by the worker) | {f['backlog_stored']:,} | "
                     f"{f['backlog_s']:.1f} | {capacity:,.0f} | {capacity / floor_batched:.2f} |")
    lines += [
        f"| floor: raw `COPY` into `monitoring_readings`, {5000:,} rows per transaction | {fl['batched_count']:,} | "
        f"{fl['batched']:.1f} | {floor_batched:,.0f} | 1.00 |",
        f"| floor: raw `COPY`, one transaction | {fl['single_count']:,} | {fl['single']:.1f} | {floor_single:,.0f} | "
        f"{floor_single / floor_batched:.2f} |",
        "",
        f"The publishers fell behind their schedule on {f['late_ticks']} ticks of {TICK_S} s; the publishing took "
        f"{f['publish_s']:.1f} s for {args.duration:g} s of readings; the worker had stored everything "
        f"{f['drain_after_publish_s']:.1f} s after the last acknowledgement.",
        "",
        "## CPU and memory during the sustained phase",
        "",
        "| process | CPU (cores, mean) | CPU p95 (1 s samples) | RSS max MiB | RSS at the end MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, u in f["usage"].items():
        lines.append(f"| {name} | {u['cpu']:.2f} | {u['cpu_p95']:.2f} | {u['rss_max']:.0f} | {u['rss_end']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a database with the demo city (default: the configured database)")
    parser.add_argument("--rate", type=float, default=10000, help="readings per second (default 10000)")
    parser.add_argument("--duration", type=float, default=600, help="seconds of the sustained phase (default 600)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (default 2)")
    parser.add_argument("--per-message", type=int, default=250, help="readings per message at most (default 250)")
    parser.add_argument("--backlog-s", type=float, default=30,
                        help="seconds' worth of readings queued while the worker is down (0: no capacity phase)")
    parser.add_argument("--floor-rows", type=int, default=1_000_000,
                        help="rows of the sustained phase copied for the floor (default 1,000,000; 0: all)")
    parser.add_argument("--profile", type=Path, help="py-spy the worker while it drains the backlog, waits included "
                        "(an SVG flame graph; speedscope JSON for .json, collapsed stacks for .txt; py-spy in the venv)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "reports" / "ingest.md")
    args = parser.parse_args(argv)
    if not args.db:
        from bench.support import configured_db

        args.db = configured_db()
    from bench.support import write_report

    return write_report(args.out, run(args))


if __name__ == "__main__":
    raise SystemExit(main())
