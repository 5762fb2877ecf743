"""The alarm closed loop (报警处置闭环) and the hazard sources' warning levels, in the alarms' own transaction.

* A raised alarm (a new row of ``monitoring_alarms``, not a repeat) of a level-1/level-2 kind opens an
  ``alarm_disposal`` case (cases/alarm_disposal.yaml) anchored on the sensor's hazard source, through the case engine,
  in the same transaction; its id goes to ``monitoring_alarms.case_id``. When the alarm clears, the case takes its
  system ``clear`` step (or, before the acknowledgement or the feedback, the step that only records the clear).
  Device faults (``stale``, ``flat_line``: :data:`alarms.FAULT_KINDS`) open no case: a silent or stuck instrument is
  the enterprise's maintenance, not a hazardous condition to escalate to the district and the city (an offline
  gateway would page the command centre for every sensor behind it); they show as the blue warning level and the
  sensor's ``offline`` status.
* The warning level (红/橙/黄/蓝) of each hazard source touched is recomputed from its sensors' active alarms by the
  ``warning_levels`` rules of rules.yaml and written to the ``hazard_sources`` layer (map, WMS/WFS, OGC API, console).

The monitoring worker talks psycopg; the case engine SQLAlchemy. :func:`engine_connection` wraps the worker's open
psycopg connection for the engine without taking over its transaction (the engine's commits and rollbacks are
no-ops there: the worker's ``conn.transaction()`` commits or rolls back everything together). The live events the
engine queues (``case.opened`` ...) and the warning-level changes are collected in a :class:`Pending` for the caller
to publish after its commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import clock as core_clock
from core.changes import Changes
from core.realtime import ScopeTag, publish

CASE_TYPE = "alarm_disposal"
FAULT_KINDS = ("stale", "flat_line")
LEVELS = ("red", "orange", "yellow", "blue")
# the case's step when its alarm clears, by the state it is in
CLEAR_STEPS = {"active": "clear_unacknowledged", "acknowledged": "clear_before_feedback", "handling": "clear"}


@dataclass
class WarningChange:
    hazard_source_code: str
    name: str
    level: str | None
    previous: str | None
    district_code: str
    enterprise_uscc: str
    lon: float
    lat: float
    at: datetime

    def event(self) -> dict[str, Any]:
        return {"hazard_source_code": self.hazard_source_code, "name": self.name, "level": self.level,
                "previous": self.previous, "at": self.at.isoformat(), "lon": self.lon, "lat": self.lat}


@dataclass
class Pending:
    """What the transaction did that others should hear of once it has committed."""

    changes: Changes = field(default_factory=Changes)
    warning_levels: list[WarningChange] = field(default_factory=list)
    cases_opened: list[int] = field(default_factory=list)

    def merge(self, other: Pending) -> None:
        self.changes.pending.extend(other.changes.pending)
        self.warning_levels.extend(other.warning_levels)
        self.cases_opened.extend(other.cases_opened)

    def publish(self) -> None:
        for event_type, data, scope in self.changes.pending:
            publish(event_type, data, scope=scope)
        for w in self.warning_levels:
            publish("monitoring.warning_level", w.event(),
                    scope=ScopeTag("hazard_sources", w.district_code, w.enterprise_uscc))
        self.changes.pending.clear()
        self.warning_levels.clear()


# -- the case engine on the worker's connection ------------------------------------------------------------
_ENGINE: list[tuple[psycopg.Connection, sa.Engine]] = []   # the last worker connection's engine (one slot)
_ENGINE_LOCK = threading.Lock()


def _engine_for(pconn: psycopg.Connection) -> sa.Engine:
    """One engine per worker connection (its dialect set up once: a new one per alarm cost ~25 ms); a new
    connection (the worker reconnected) replaces it, the old one dereferenced, never closed here."""
    with _ENGINE_LOCK:
        if _ENGINE and _ENGINE[0][0] is pconn:
            return _ENGINE[0][1]
        eng = sa.create_engine("postgresql+psycopg://", creator=lambda: pconn, poolclass=sa.pool.StaticPool,
                               pool_reset_on_return=None)
        eng.dialect.do_commit = lambda _dbapi: None      # the worker's transaction commits, not the engine
        eng.dialect.do_rollback = lambda _dbapi: None    # (a failure raises through the worker's transaction)
        if _ENGINE:
            _ENGINE.pop()[1].dispose(close=False)
        _ENGINE.append((pconn, eng))
        return eng


@contextmanager
def engine_connection(pconn: psycopg.Connection) -> Iterator[Connection]:
    """A SQLAlchemy connection on ``pconn``'s open transaction (which stays the caller's to commit)."""
    conn = _engine_for(pconn).connect()
    try:
        yield conn
    finally:
        conn.close()   # (its "rollback" is the no-op above; the pool neither resets nor closes the connection)


def _settings() -> Mapping[str, Any]:
    return {}


def open_case(pconn: psycopg.Connection, alarm_id: int, pending: Pending, now: datetime | None = None) -> int | None:
    """Open the alarm's ``alarm_disposal`` case (system ``raise``); store and return its id."""
    from supervision.cases import engine, registry

    alarm = pconn.execute(
        "SELECT a.id, a.sensor_code, a.rule, a.kind, a.level, a.value, a.threshold, a.message, a.raised_at, "
        "s.hazard_source_code, s.kind AS sensor_kind, s.unit, s.district_code, h.enterprise_uscc, h.name, "
        "ST_X(s.geom), ST_Y(s.geom), (h.code IS NOT NULL) FROM monitoring_alarms a JOIN sensors s ON s.code = "
        "a.sensor_code LEFT JOIN hazard_sources h ON h.code = s.hazard_source_code WHERE a.id = %s",
        (alarm_id,)).fetchone()
    if alarm is None:
        return None
    (aid, sensor, rule, kind, level, value, threshold, message, raised_at, hs_code, sensor_kind, unit, district,
     uscc, hs_name, lon, lat, has_hs) = alarm
    if kind in FAULT_KINDS:
        return None
    now = now or core_clock.now()
    joined = _join(pconn, aid, sensor, level, value, rule, message, pending, now)
    if joined is not None:
        return joined
    ct = registry.get(CASE_TYPE)
    opening = ct.openings()[0]
    data = {"title": f"{hs_name or sensor} {message or rule}"[:200], "alarm_id": aid, "alarm_ids": [aid],
            "sensor_code": sensor, "hazard_source_name": hs_name,
            "sensor_kind": sensor_kind, "rule": rule, "kind": kind, "level": level, "value": value,
            "threshold": threshold, "unit": unit, "message": message, "raised_at": raised_at.isoformat(),
            "hazard_source_code": hs_code}
    with engine_connection(pconn) as conn:
        case = engine.insert_case(conn, ct, anchor_kind="hazard_source" if has_hs else "point",
                                  anchor_id=hs_code if has_hs else None, district_code=district,
                                  enterprise_uscc=uscc, grid_cell_code=_grid(conn, lon, lat), parent_id=None,
                                  opened_by=None, now=now, state=opening.to, data=data, lon=lon, lat=lat)
        ctx = engine.EffectContext(conn, ct, case, {}, None, pending.changes, now, config=_settings())
        engine.apply(ctx, opening)
    pconn.execute("UPDATE monitoring_alarms SET case_id = %s WHERE id = %s", (case["id"], aid))
    pending.cases_opened.append(case["id"])
    return case["id"]


# the case of another active alarm of the same sensor, still open: the same episode (a leak passes 一级, then 二级)
_EPISODE = """
SELECT a.case_id FROM monitoring_alarms a JOIN cases c ON c.id = a.case_id
WHERE a.sensor_code = %s AND a.id <> %s AND a.state = 'active' AND c.closed_at IS NULL AND c.case_type = %s
ORDER BY a.level DESC, a.id LIMIT 1
"""
JOIN_STEPS = {"active": "join_active", "acknowledged": "join_acknowledged", "handling": "join_handling"}


def _join(pconn: psycopg.Connection, alarm_id: int, sensor: str, level: int, value: float | None, rule: str,
          message: str | None, pending: Pending, now: datetime) -> int | None:
    """Handle a new alarm in the open case of the sensor's other active alarm, if there is one (one case per
    episode, not one per rule: a dispatcher acknowledges a leak once). The case keeps the highest level, its title
    follows it, and the step is an event of the case (who, when, which alarm)."""
    from supervision.cases import engine, registry

    row = pconn.execute(_EPISODE, (sensor, alarm_id, CASE_TYPE)).fetchone()
    if row is None:
        return None
    case_id = row[0]
    with engine_connection(pconn) as conn:
        case = engine.lock(conn, case_id)
        ct = registry.pinned(conn, case["case_type"], case["type_version"])
        t = ct.transition(JOIN_STEPS.get(case["state"], ""))
        if t is None or case["state"] not in t.from_states:
            return None   # (a state no alarm joins, e.g. cleared: the new alarm opens its own case)
        data = dict(case["data"])
        data["alarm_ids"] = sorted({*data.get("alarm_ids", [data.get("alarm_id")]), alarm_id} - {None})
        if level > int(data.get("level") or 0):
            data.update(level=level, rule=rule, value=value, message=message,
                        title=f"{data.get('hazard_source_name') or sensor} {message or rule}"[:200])
        case["data"] = data
        ctx = engine.EffectContext(conn, ct, case, {}, None, pending.changes, now,
                                   parent=engine.parent_of(conn, case), config=_settings())
        ctx.results["alarm"] = {"id": alarm_id, "rule": rule, "level": level, "value": value}
        engine.apply(ctx, t)
    pconn.execute("UPDATE monitoring_alarms SET case_id = %s WHERE id = %s", (case_id, alarm_id))
    return case_id


def _grid(conn: Connection, lon: float, lat: float) -> str | None:
    return conn.execute(sa.text("SELECT code FROM grid_cells WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint("
                                ":x, :y), 4490)) ORDER BY code LIMIT 1"), {"x": lon, "y": lat}).scalar()


def clear_case(pconn: psycopg.Connection, case_id: int | None, pending: Pending, now: datetime | None = None) -> str | None:
    """The alarm of ``case_id`` cleared: the case's system step for its state; returns the step taken."""
    if case_id is None:
        return None
    if pconn.execute("SELECT 1 FROM monitoring_alarms WHERE case_id = %s AND state = 'active' LIMIT 1",
                     (case_id,)).fetchone():
        return None   # another alarm of the episode is still active: the case waits for the last one to clear
    from supervision.cases import engine, registry

    now = now or core_clock.now()
    with engine_connection(pconn) as conn:
        case = engine.lock(conn, case_id)
        if case is None or case["closed_at"] is not None:
            return None
        ct = registry.pinned(conn, case["case_type"], case["type_version"])
        t = ct.transition(CLEAR_STEPS.get(case["state"], ""))
        if t is None or case["state"] not in t.from_states:
            return None
        ctx = engine.EffectContext(conn, ct, case, {}, None, pending.changes, now,
                                   parent=engine.parent_of(conn, case), config=_settings())
        engine.apply(ctx, t)
        return t.id


# -- warning levels ----------------------------------------------------------------------------------------
_ACTIVE = """
SELECT s.hazard_source_code, a.sensor_code, ms.rule_set, a.kind, a.level
FROM monitoring_alarms a JOIN sensors s ON s.code = a.sensor_code
LEFT JOIN monitoring_sensors ms ON ms.sensor_code = a.sensor_code
WHERE a.state = 'active' AND s.hazard_source_code = ANY(%s)
"""


@dataclass(frozen=True)
class ActiveAlarm:
    sensor_code: str
    rule_set: str | None
    kind: str
    level: int


def level_of(alarms: Iterable[ActiveAlarm], rules: Mapping[str, Any]) -> str | None:
    """The warning level of one hazard source from its sensors' active alarms (``warning_levels`` of rules.yaml):
    the first level, from red down, any of whose conditions holds; ``None`` when none does."""
    alarms = list(alarms)
    hazard = [a for a in alarms if a.kind not in FAULT_KINDS]
    faults = [a for a in alarms if a.kind in FAULT_KINDS]
    for level in LEVELS:
        for cond in (rules.get(level) or {}).get("any") or ():
            if _holds(cond, hazard, faults):
                return level
    return None


def _holds(cond: Mapping[str, Any], hazard: list[ActiveAlarm], faults: list[ActiveAlarm]) -> bool:
    if cond.get("only_faults"):
        return bool(faults) and not hazard
    chosen = [a for a in hazard if a.level == cond["alarm_level"]
              and ("rule_sets" not in cond or a.rule_set in cond["rule_sets"])]
    if "sensors" in cond:       # on at least this many distinct sensors
        return len({a.sensor_code for a in chosen}) >= int(cond["sensors"])
    return len(chosen) >= int(cond.get("alarms", 1))


def check_rules(doc: Mapping[str, Any]) -> list[str]:
    """Problems of the ``warning_levels`` section (each naming its field; none when the file has no section)."""
    out: list[str] = []
    if "warning_levels" not in doc:
        return out
    section = doc.get("warning_levels")
    if not isinstance(section, dict):
        return ["warning_levels: a mapping of red/orange/yellow/blue to {any: [conditions]}"]
    for level, spec in section.items():
        where = f"warning_levels.{level}"
        if level not in LEVELS:
            out.append(f"{where}: unknown level (one of {', '.join(LEVELS)})")
            continue
        conds = spec.get("any") if isinstance(spec, dict) else None
        if not isinstance(conds, list) or not conds:
            out.append(f"{where}.any: a list of conditions")
            continue
        for i, c in enumerate(conds):
            here = f"{where}.any[{i}]"
            if not isinstance(c, dict):
                out.append(f"{here}: a mapping")
            elif c.get("only_faults") is True:
                if len(c) != 1:
                    out.append(f"{here}: only_faults stands alone")
            elif c.get("alarm_level") not in (1, 2):
                out.append(f"{here}.alarm_level: 1 or 2")
            else:
                unknown = set(c) - {"alarm_level", "rule_sets", "sensors", "alarms"}
                if unknown:
                    out.append(f"{here}: unknown keys {', '.join(sorted(unknown))}")
                for k in ("sensors", "alarms"):
                    if k in c and (not isinstance(c[k], int) or isinstance(c[k], bool) or c[k] < 1):
                        out.append(f"{here}.{k}: an integer ≥ 1")
                if "rule_sets" in c and not (isinstance(c["rule_sets"], list) and c["rule_sets"]
                                             and all(r in doc and r != "warning_levels" for r in c["rule_sets"])):
                    out.append(f"{here}.rule_sets: a list of the rule sets of this file")
    return out


def sync_warning_levels(pconn: psycopg.Connection, hazard_sources: Iterable[str], rules: Mapping[str, Any],
                        pending: Pending | None = None, now: datetime | None = None) -> list[WarningChange]:
    """Recompute and write the warning level of ``hazard_sources``; returns (and queues) the changes."""
    codes = sorted({c for c in hazard_sources if c})
    if not codes:
        return []
    now = now or core_clock.now()
    by_source: dict[str, list[ActiveAlarm]] = {c: [] for c in codes}
    for hs, sensor, rule_set, kind, level in pconn.execute(_ACTIVE, (codes,)).fetchall():
        by_source[hs].append(ActiveAlarm(sensor, rule_set, kind, int(level)))
    wanted = {c: level_of(a, rules) for c, a in by_source.items()}
    rows = pconn.execute(
        "SELECT code, name, warning_level, district_code, enterprise_uscc, ST_X(geom), ST_Y(geom) FROM hazard_sources "
        "WHERE code = ANY(%s) ORDER BY code FOR UPDATE", (codes,)).fetchall()
    out = []
    for code, name, previous, district, uscc, lon, lat in rows:
        if previous == wanted[code]:
            continue
        pconn.execute("UPDATE hazard_sources SET warning_level = %s WHERE code = %s", (wanted[code], code))
        out.append(WarningChange(code, name, wanted[code], previous, district, uscc, lon, lat, now))
    if pending is not None:
        pending.warning_levels.extend(out)
    return out


def hazard_sources_of(pconn: psycopg.Connection, sensors: Iterable[str]) -> set[str]:
    codes = sorted(set(sensors))
    if not codes:
        return set()
    return {r[0] for r in pconn.execute("SELECT DISTINCT hazard_source_code FROM sensors WHERE code = ANY(%s)",
                                        (codes,)).fetchall() if r[0]}


__all__ = ["CASE_TYPE", "CLEAR_STEPS", "ActiveAlarm", "Pending", "WarningChange", "check_rules", "clear_case",
           "engine_connection", "hazard_sources_of", "level_of", "open_case", "sync_warning_levels"]
