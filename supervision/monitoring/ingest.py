"""The ingest worker: MQTT (QoS 1, persistent session) → batches → PostgreSQL, acknowledged only once committed.

The worker connects with a fixed client id and ``clean_session=False``, so the broker keeps its subscription and
queues QoS 1 messages while it is down; it acknowledges a message (PUBACK, ``manual_ack``) only after the batch that
holds it has been committed. A worker killed at any point therefore loses nothing the broker acknowledged to a
gateway: what it had not committed is delivered again, and what it had committed but not yet acknowledged comes again
as a duplicate, which the unique key on (sensor, time) stores once (storage.py). After a reconnection the broker
redelivers every unacknowledged message, so acknowledgements of a previous connection are never sent (their message
ids may have been reused).

A malformed message is logged, counted (``monitoring_counters.malformed``), acknowledged and dropped; it never stops
the worker. A lost database (a restart, a killed session, a network cut) keeps the batch unacknowledged and retries it
on a new connection, reconnecting with a backoff (0.5 s doubling to 10 s) and logging the outage and its end; the
periodic maintenance and stale sweep survive it the same way. A lost broker is paho's to reconnect (1 s doubling to
10 s); the worker logs the disconnection and the new session. :func:`background` (and ``onemap ingest``) start a
worker that failed for any other reason again after a backoff that grows to a minute, not in a tight loop.

One worker ingests into a database at a time: it holds a session-level advisory lock (:data:`INGEST_LOCK`) on its
connection, and a second worker (an ``onemap ingest`` started beside ``onemap serve``'s) waits for it, saying which
session holds it, instead of taking over the broker session and writing the same rule states. Being their only
writer, the worker keeps the alarm rules' states in memory between batches (``alarms.RuleStates``), forgotten after
any rollback and on every reconnection.

Run by ``onemap serve`` (through ``Manifest.background``, in the ``onemap worker`` process) and alone as
``onemap ingest``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg

from core import clock
from supervision.monitoring import alarms, events, storage
from supervision.monitoring.payload import SUBSCRIPTION, PayloadError, parse

log = logging.getLogger(__name__)

# the advisory lock (one bigint, per database) held by the database's ingest worker: 'onemap-monitoring-ingest'
INGEST_LOCK = 0x6F6E656D_61700014


@dataclass
class _Message:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes


@dataclass
class IngestWorker:
    db_url: str                              # a libpq URL (postgresql://...)
    host: str
    port: int
    username: str | None
    password: str | None
    rules_doc: Mapping[str, Any]
    client_id: str = "onemap-ingest"
    batch_max: int = 5000
    batch_interval_ms: int = 200            # how long a batch may keep filling up ...
    batch_idle_ms: int = 20                  # ... while messages keep coming at most this far apart
    retention_days: int = 90
    partitions_ahead_days: int = 2
    stale_sweep_s: float = 30.0
    ready: threading.Event = field(default_factory=threading.Event)   # subscribed (tests wait for it)
    totals: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._queue: queue.Queue[_Message] = queue.Queue()
        self._generation = 0
        self._known_days: set | None = None
        self.book = alarms.RuleBook(self.rules_doc)
        self.states = alarms.RuleStates()

    # -- MQTT side (paho's network thread) ------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("ingest: the broker refused the connection: %s", reason)
            return
        self._generation += 1
        client.subscribe(SUBSCRIPTION, qos=1)
        log.info("ingest: connected to %s:%s as %s (session present: %s)", self.host, self.port, self.client_id,
                 flags.session_present)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.ready.clear()
        if reason.is_failure:
            log.warning("ingest: lost the broker %s:%s (%s); reconnecting, unacknowledged messages will be delivered "
                        "again", self.host, self.port, reason)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list, _props: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("ingest: the broker refused the subscription to %s: %s", SUBSCRIPTION, reasons)
            return
        self.ready.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(_Message(self._generation, msg.mid, msg.qos, msg.topic, msg.payload))

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                             manual_ack=True)
        if self.username:
            client.username_pw_set(self.username, self.password)
        client.max_inflight_messages_set(1000)
        client.reconnect_delay_set(1, 10)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # -- database side -----------------------------------------------------------------------------------
    def _lock(self, conn: psycopg.Connection, stop: threading.Event) -> bool:
        """Take the database's ingest lock on ``conn``, waiting while another worker holds it."""
        waited = False
        while not stop.is_set():
            if conn.execute("SELECT pg_try_advisory_lock(%s)", (INGEST_LOCK,)).fetchone()[0]:
                conn.commit()
                if waited:
                    log.warning("ingest: took over the database's ingest lock")
                return True
            conn.commit()
            if not waited:
                holder = conn.execute(
                    "SELECT a.pid, a.application_name, a.client_addr FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "AND (l.classid::bigint << 32 | l.objid::bigint) = %s", (INGEST_LOCK,)).fetchone()
                conn.commit()
                who = (f"pid {holder[0]}, {holder[1] or 'no name'}" + (f", from {holder[2]}" if holder[2] else "")
                       if holder else "just gone")
                log.warning("ingest: another ingest worker holds this database (session %s); waiting for it to stop",
                            who)
                waited = True
            stop.wait(2.0)
        return False

    def _connect_db(self, stop: threading.Event) -> psycopg.Connection | None:
        delay, attempts, since = 0.5, 0, time.monotonic()
        while not stop.is_set():
            try:
                conn = psycopg.connect(self.db_url, connect_timeout=5, application_name="onemap-ingest")
                conn.execute("SET TIME ZONE 'UTC'")
                conn.commit()
                if not self._lock(conn, stop):
                    conn.close()
                    return None
                self.book.reload(conn)
                conn.commit()
                self.states.forget()
                self._known_days = None
                if attempts:
                    log.warning("ingest: database connection restored after %.1f s (%d attempts)",
                                time.monotonic() - since, attempts + 1)
                return conn
            except psycopg.OperationalError as exc:
                attempts += 1
                log.warning("ingest: database unavailable (%s); retrying in %.1f s",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__, delay)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
        return None

    def _reconnect_db(self, conn: psycopg.Connection | None, stop: threading.Event, exc: Exception,
                      doing: str) -> psycopg.Connection | None:
        log.warning("ingest: lost the database while %s (%s); reconnecting, nothing is acknowledged meanwhile",
                    doing, str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__)
        self._known_days = None
        self.states.forget()
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is already broken
                pass
        return self._connect_db(stop)

    def _maintain(self, conn: psycopg.Connection) -> None:
        today = clock.now().date()
        with conn.transaction():
            self._known_days = storage.ensure_partitions(
                conn, (today + timedelta(days=d) for d in range(-1, self.partitions_ahead_days + 1)), self._known_days)
            dropped = storage.drop_expired(conn, today, self.retention_days)
        if dropped:
            self._known_days = None
            log.info("ingest: dropped expired partitions %s", ", ".join(dropped))

    def _count(self, counts: Mapping[str, int]) -> None:
        for k, v in counts.items():
            self.totals[k] = self.totals.get(k, 0) + v

    def _store(self, conn: psycopg.Connection, batch: list[_Message]) -> None:
        readings: list[storage.Reading] = []
        counts = {"messages": len(batch), "malformed": 0, "out_of_window": 0}
        now = clock.now()
        oldest, newest = now - timedelta(days=self.retention_days), now + timedelta(days=1)
        for m in batch:
            try:
                _enterprise, _gateway, items = parse(m.topic, m.payload)
            except PayloadError as exc:
                counts["malformed"] += 1
                log.warning("ingest: malformed message on %s dropped: %s", m.topic[:120], exc)
                continue
            if any(not oldest <= r.ts <= newest for r in items):
                counts["out_of_window"] += 1
                log.warning("ingest: message on %s dropped: a reading is older than the retention or in the future",
                            m.topic[:120])
                continue
            readings.extend(items)
        try:
            self._write(conn, readings, counts)
        except BaseException:
            self._known_days = None  # partitions made in the rolled-back transaction are gone again
            self.states.forget()     # and so are the rule states it wrote
            raise
        self._count(counts)

    def _write(self, conn: psycopg.Connection, readings: list[storage.Reading], counts: dict[str, int]) -> None:
        now = clock.now()
        with conn.transaction():
            if readings:
                self._known_days = storage.ensure_partitions(conn, {r.ts.astimezone(now.tzinfo).date()
                                                                    for r in readings}, self._known_days)
                stored = storage.store_batch(conn, readings)
                counts.update(readings=len(readings), stored=len(stored.inserted), duplicates=stored.duplicates,
                              rejected=stored.rejected)
                if stored.rejected:
                    log.warning("ingest: %d readings of unregistered sensors, of another gateway or in another unit "
                                "rejected", stored.rejected)
                changes = alarms.run_rules(conn, self.book, (r for r in stored.inserted if r[3] < 2), self.states)
                counts.update(changes.counts)
            storage.add_counters(conn, counts)
        if readings:   # committed: now tell the consoles
            events.publish_changes(conn, changes)
            changes.loop.publish()   # the alarms' cases (case.opened, ...) and monitoring.warning_level

    def _one_by_one(self, conn: psycopg.Connection, batch: list[_Message]) -> None:
        for m in batch:
            try:
                self._store(conn, [m])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                log.warning("ingest: message on %s dropped, the database refused it: %s", m.topic[:120], exc)
                with conn.transaction():
                    storage.add_counters(conn, {"messages": 1, "failed": 1})
                self._count({"messages": 1, "failed": 1})

    def _sweep(self, conn: psycopg.Connection) -> None:
        try:
            with conn.transaction():
                changes = alarms.sweep_stale(conn, self.book, clock.now(), self.states)
                storage.add_counters(conn, changes.counts)
        except BaseException:
            self.states.forget()
            raise
        events.publish_changes(conn, changes)
        changes.loop.publish()
        self._count(changes.counts)

    # -- the loop ----------------------------------------------------------------------------------------
    def _collect(self, stop: threading.Event) -> list[_Message]:
        batch: list[_Message] = []
        try:
            batch.append(self._queue.get(timeout=0.2))
        except queue.Empty:
            return batch
        deadline = time.monotonic() + self.batch_interval_ms / 1000
        idle = self.batch_idle_ms / 1000
        size = 0
        while size < self.batch_max and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                # a lull ends the batch: a lone alarm reading is not held for the whole interval
                m = self._queue.get(timeout=min(remaining, idle))
            except queue.Empty:
                break
            batch.append(m)
            size += max(1, len(m.payload) // 80)   # about one reading per 80 bytes: a bound, not a count
        return batch

    def run(self, stop: threading.Event) -> None:
        conn = self._connect_db(stop)
        if conn is None:
            return
        client = self._client()
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        last_sweep = last_maintenance = None
        try:
            while not stop.is_set():
                try:
                    if last_maintenance is None or time.monotonic() - last_maintenance > 3600:
                        self._maintain(conn)
                        last_maintenance = time.monotonic()
                    if last_sweep is None or time.monotonic() - last_sweep > self.stale_sweep_s:
                        self._sweep(conn)
                        last_sweep = time.monotonic()
                except psycopg.OperationalError as exc:
                    conn = self._reconnect_db(conn, stop, exc, "sweeping")
                    if conn is None:
                        return
                    continue
                batch = self._collect(stop)
                while batch and not stop.is_set():
                    try:
                        try:
                            self._store(conn, batch)
                        except psycopg.OperationalError:
                            raise
                        except psycopg.Error as exc:
                            # not the connection: some message the checks let through; store the batch message by
                            # message so that one bad message cannot stop the others forever (it would come back
                            # after every restart)
                            log.warning("ingest: the batch failed (%s); storing its messages one by one", exc)
                            self._one_by_one(conn, batch)
                    except psycopg.OperationalError as exc:
                        # the batch is kept, unacknowledged: it is stored again on the new connection (what the
                        # broker redelivers meanwhile is a duplicate, stored once)
                        conn = self._reconnect_db(conn, stop, exc, f"storing a batch of {len(batch)} messages")
                        if conn is None:
                            return
                        continue
                    generation = self._generation
                    for m in batch:  # committed: now the broker may forget them
                        if m.generation == generation and m.qos > 0:
                            client.ack(m.mid, m.qos)
                    batch = []
        finally:
            client.disconnect()
            client.loop_stop()
            if conn is not None:
                conn.close()


def from_settings(settings: Mapping[str, Any], db_url: str) -> IngestWorker:
    """The worker the configuration describes; with a private broker, the broker is started (its gateways synced
    from the database first, so every registered gateway has a credential)."""
    from core.config import resolve_path
    from core.manifest import load_document
    from supervision.monitoring.broker import PrivateBroker

    cfg = settings["monitoring"]
    b = cfg["broker"]
    username, password = b["username"], b["password"]
    if b["private"]:
        broker = PrivateBroker(resolve_path(b["dir"]), b["port"], b["host"])
        with psycopg.connect(db_url) as conn:
            gateways = conn.execute("SELECT code, enterprise_uscc FROM monitoring_gateways ORDER BY code").fetchall()
        broker.set_gateways(gateways)
        if broker.running():
            broker.reload()
        else:
            broker.start()
        username, password = broker.ingest_credentials()
    return IngestWorker(db_url, b["host"], b["port"], username, password, load_document(cfg["rules"]),
                        client_id=cfg["client_id"], batch_max=cfg["batch_max"],
                        batch_interval_ms=cfg["batch_interval_ms"], retention_days=cfg["retention_days"],
                        partitions_ahead_days=cfg["partitions_ahead_days"], stale_sweep_s=cfg["stale_sweep_s"])


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def background(settings: Mapping[str, Any], stop: threading.Event) -> None:
    """``Manifest.background``: the ingest loop beside the server (not in ``onemap worker --once``)."""
    if not settings["monitoring"]["ingest"] or stop.is_set():
        return
    from core.db import database_url
    from supervision.cases import registry

    registry.configure(settings)   # the case types of the enabled modules (报警处置 opened by the rules)

    run_forever(lambda: from_settings(settings, libpq_url(database_url(dict(settings)))), stop)


def run_forever(make: Any, stop: threading.Event, first_delay: float = 5.0, max_delay: float = 60.0) -> None:
    """Run the worker ``make()`` builds until ``stop``; after a failure, log it and start again after a backoff
    (``first_delay`` doubling to ``max_delay``; back to ``first_delay`` once a worker has run a minute): a fault
    that returns at once (a broker that will not start, a broken configuration) does not spin."""
    delay = first_delay
    while not stop.is_set():
        started = time.monotonic()
        try:
            make().run(stop)
            return
        except Exception:  # noqa: BLE001 — the server keeps running; the worker starts again
            if time.monotonic() - started > 60:
                delay = first_delay
            log.exception("ingest: the worker failed; starting again in %.0f s", delay)
            stop.wait(delay)
            delay = min(delay * 2, max_delay)


__all__ = ["INGEST_LOCK", "IngestWorker", "background", "from_settings", "libpq_url", "run_forever"]
