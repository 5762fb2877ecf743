"""Running the alarm rules over stored readings, and the stale-data sweep: rule states and alarms in the database.

At most one active alarm per sensor and rule (a partial unique index): a raise while one is active, or a repeat,
updates it (value, time, ``repeats``); a clear closes it. Each rule's remembered state (``monitoring_rule_state``)
is written in the same transaction as the readings that moved it, so a restart of the worker resumes delays and
flat-line windows where they were. The ingest worker keeps the states in memory between batches as well
(:class:`RuleStates`: it is their only writer, holding the database's ingest lock) instead of reading them back for
every batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from supervision.monitoring import loop
from supervision.monitoring.rules import Outcome, Rule, evaluate, evaluate_stale, rules_for

PARAMS = """
SELECT ms.sensor_code, ms.rule_set, s.alarm_low, s.alarm_high, ms.range_low, ms.range_high, ms.thresholds
FROM monitoring_sensors ms JOIN sensors s ON s.code = ms.sensor_code
"""


@dataclass
class Changes:
    """What a batch (or a sweep) changed, for the live events sent once it commits (``events.publish_changes``)."""

    counts: dict[str, int] = field(default_factory=dict)
    alarms: list[int] = field(default_factory=list)            # ids of the alarms raised or cleared
    statuses: list[tuple[str, str]] = field(default_factory=list)   # (sensor code, new status)
    # the 报警处置 cases opened or moved and the hazard sources' warning levels changed (loop.py), with their events
    loop: loop.Pending = field(default_factory=loop.Pending)

    def count(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    def merge(self, other: Changes) -> None:
        for k, v in other.counts.items():
            self.count(k, v)
        self.alarms.extend(other.alarms)
        self.statuses.extend(other.statuses)
        self.loop.merge(other.loop)


class RuleBook:
    """The rules of each registered sensor, thresholds resolved (loaded once per worker; :meth:`reload` refreshes)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.by_sensor: dict[str, list[Rule]] = {}
        self.warning_levels: Mapping[str, Any] = doc.get("warning_levels") or {}

    def reload(self, conn: psycopg.Connection) -> None:
        book = {}
        for code, rule_set, low, high, rlow, rhigh, thresholds in conn.execute(PARAMS).fetchall():
            params = {"alarm_low": low, "alarm_high": high, "range_low": rlow, "range_high": rhigh,
                      **(thresholds or {})}
            book[code] = rules_for(self.doc, rule_set, params)
        self.by_sensor = book

    def rules(self, sensor: str) -> list[Rule]:
        return self.by_sensor.get(sensor, [])


class RuleStates:
    """The rule states of every sensor, kept in the ingest worker's memory between batches.

    Read once per database connection, then updated in place by each batch and sweep (which also write what they
    changed, in their transaction). Valid only while the worker is their only writer (ingest.py holds the
    database's ingest lock) and only for committed work: the worker calls :meth:`forget` whenever a transaction may
    have rolled back and whenever it reconnects, and the next batch reads them again."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], dict] | None = None

    def of(self, conn: psycopg.Connection) -> dict[tuple[str, str], dict]:
        if self._states is None:
            self._states = {(s, r): st for s, r, st in
                            conn.execute("SELECT sensor_code, rule, state FROM monitoring_rule_state").fetchall()}
        return self._states

    def forget(self) -> None:
        self._states = None


def _states(conn: psycopg.Connection, sensors: list[str],
            cache: RuleStates | None) -> dict[tuple[str, str], dict]:
    if cache is not None:
        return cache.of(conn)
    rows = conn.execute("SELECT sensor_code, rule, state FROM monitoring_rule_state WHERE sensor_code = ANY(%s)",
                        (sensors,)).fetchall()
    return {(s, r): st for s, r, st in rows}


def _apply(conn: psycopg.Connection, sensor: str, rule: Rule, at: datetime, outcome: Outcome,
           changes: Changes) -> None:
    """Write the outcome; a new alarm (not a repeat) opens its 报警处置 case, a clear moves it (loop.py), in this
    transaction."""
    case_id = None
    if outcome.action in ("raise", "repeat"):
        alarm_id, inserted = conn.execute(
            "INSERT INTO monitoring_alarms AS a (sensor_code, rule, kind, level, value, threshold, message, raised_at, "
            "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (sensor_code, rule) WHERE state = 'active' DO UPDATE SET value = excluded.value, "
            "message = excluded.message, updated_at = excluded.updated_at, repeats = a.repeats + 1 "
            "RETURNING id, xmax = 0",
            (sensor, rule.id, rule.kind, rule.level, outcome.value, outcome.threshold, outcome.message, at, at)).fetchone()
        action = "raise" if inserted else "repeat"
        if inserted:     # a new alarm (a raise while one is active is a repeat: it opens nothing)
            loop.open_case(conn, alarm_id, changes.loop)
    else:
        row = conn.execute("UPDATE monitoring_alarms SET state = 'cleared', cleared_at = %s, updated_at = %s, value = "
                           "coalesce(%s, value) WHERE sensor_code = %s AND rule = %s AND state = 'active' "
                           "RETURNING id, case_id", (at, at, outcome.value, sensor, rule.id)).fetchone()
        (alarm_id, case_id), action = (row if row else (None, None)), "clear"
        loop.clear_case(conn, case_id, changes.loop)
    changes.count(f"alarms_{action}")
    if action != "repeat" and alarm_id is not None:
        changes.alarms.append(alarm_id)


def _save(conn: psycopg.Connection, changed: dict[tuple[str, str], dict]) -> None:
    """One statement for all the changed states (a batch at 10,000 readings/s changes a few hundred)."""
    if changed:
        conn.execute("INSERT INTO monitoring_rule_state (sensor_code, rule, state) "
                     "SELECT s, r, st::jsonb FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(s, r, st) "
                     "ON CONFLICT (sensor_code, rule) DO UPDATE SET state = excluded.state",
                     ([s for s, _ in changed], [r for _, r in changed],
                      [json.dumps(st, separators=(",", ":")) for st in changed.values()]))


# A device fault (no data, a value that no longer moves) shows the sensor offline; a reading beyond a threshold or
# rising too fast, in alarm; an alarm outranks a fault (a leak whose detector then went quiet is still a leak).
FAULT_KINDS = ("stale", "flat_line")


def sync_status(conn: psycopg.Connection, sensors: Iterable[str]) -> list[tuple[str, str]]:
    """Set the ``sensors`` layer's status (what the map, WMS/WFS and the console show) from the sensors' active
    alarms; returns the (sensor, status) rows that changed. Runs in the caller's transaction, with the alarms it
    raised or cleared."""
    codes = sorted(set(sensors))
    if not codes:
        return []
    return conn.execute(
        "UPDATE sensors s SET status = v.status FROM (SELECT c.code, CASE "
        "WHEN EXISTS (SELECT 1 FROM monitoring_alarms a WHERE a.sensor_code = c.code AND a.state = 'active' "
        "             AND a.kind <> ALL(%(faults)s)) THEN 'alarm' "
        "WHEN EXISTS (SELECT 1 FROM monitoring_alarms a WHERE a.sensor_code = c.code AND a.state = 'active') "
        "             THEN 'offline' ELSE 'normal' END AS status FROM unnest(%(codes)s::text[]) AS c(code)) v "
        "WHERE s.code = v.code AND s.status IS DISTINCT FROM v.status RETURNING s.code, s.status",
        {"codes": codes, "faults": list(FAULT_KINDS)}).fetchall()


def _quiet(rule: Rule, state: Mapping[str, Any], values: list[float]) -> bool:
    """Whether ``values`` (a sensor's readings of one batch) would each leave ``rule`` where it is, with nothing to
    report: a level rule neither active nor pending whose threshold none of them reaches, or a stale rule not active
    (the usual case, checked without evaluating reading by reading)."""
    if rule.kind == "stale":
        return not state.get("active")
    if rule.kind != "level" or state.get("active") or state.get("pending_since") or rule.threshold is None:
        return False
    if rule.direction == "high":
        return max(values) < rule.threshold
    return min(values) > rule.threshold


def run_rules(conn: psycopg.Connection, book: RuleBook,
              inserted: Iterable[tuple[str, datetime, float, int, bool]], states: RuleStates | None = None) -> Changes:
    """The stored readings that advance their sensor's latest value, in time order, through its rules (the rule
    states from ``states``, the worker's memory, else read for this call)."""
    changes = Changes()
    by_sensor: dict[str, list[tuple[datetime, float]]] = {}
    for r in inserted:
        if r[4]:
            by_sensor.setdefault(r[0], []).append((r[1], r[2]))
    if not by_sensor:
        return changes
    states = _states(conn, sorted(by_sensor), states)
    changed: dict[tuple[str, str], dict] = {}
    touched: set[str] = set()
    for sensor in sorted(by_sensor):
        series = sorted(by_sensor[sensor])
        values = [v for _, v in series]
        for rule in book.rules(sensor):
            key = (sensor, rule.id)
            before = states.get(key, {})
            if _quiet(rule, before, values):
                if rule.kind == "level" and before != {"active": False}:
                    states[key] = changed[key] = {"active": False}
                continue
            state = before
            for ts, value in series:
                state, outcome = evaluate(rule, state, ts, value)
                if outcome is not None:
                    _apply(conn, sensor, rule, ts, outcome, changes)
                    touched.add(sensor)
            if state != before:
                states[key] = changed[key] = state
    _save(conn, changed)
    _levels(conn, book, changes, touched)
    # every reporting sensor, not only those whose alarms moved: its status may still be the demo's (or a stale
    # one from before the worker ran); the statement writes only rows whose status changes
    _statuses(changes, sync_status(conn, by_sensor))
    return changes


def _levels(conn: psycopg.Connection, book: RuleBook, changes: Changes, sensors: set[str]) -> None:
    """The warning levels of the hazard sources whose sensors' alarms moved (loop.py), in this transaction."""
    moved = loop.sync_warning_levels(conn, loop.hazard_sources_of(conn, sensors), book.warning_levels, changes.loop)
    changes.count("warning_levels", len(moved))


def _statuses(changes: Changes, rows: list[tuple[str, str]]) -> None:
    changes.statuses.extend(rows)
    changes.count("sensor_status", len(rows))


def sweep_stale(conn: psycopg.Connection, book: RuleBook, now: datetime, states: RuleStates | None = None) -> Changes:
    """Raise (or clear) the stale-data alarms of every registered sensor at ``now``."""
    latest = dict(conn.execute("SELECT sensor_code, ts FROM monitoring_latest").fetchall())
    # a sensor that never reported is not "stale" (it may not be connected yet): it has no latest value to age
    sensors = [s for s, rules in book.by_sensor.items() if s in latest and any(r.kind == "stale" for r in rules)]
    states = _states(conn, sensors, states)
    changed: dict[tuple[str, str], dict] = {}
    changes = Changes()
    touched: set[str] = set()
    for sensor in sensors:
        for rule in book.rules(sensor):
            if rule.kind != "stale":
                continue
            key = (sensor, rule.id)
            before = states.get(key, {})
            after, outcome = evaluate_stale(rule, before, latest.get(sensor), now)
            if after != before:
                states[key] = changed[key] = after
            if outcome is not None:
                _apply(conn, sensor, rule, now, outcome, changes)
                touched.add(sensor)
    _save(conn, changed)
    _levels(conn, book, changes, touched)
    _statuses(changes, sync_status(conn, touched))
    return changes


__all__ = ["FAULT_KINDS", "Changes", "RuleBook", "RuleStates", "run_rules", "sweep_stale", "sync_status"]
