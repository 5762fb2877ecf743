"""Alarms of the online sensors for the console and the large screen, over the caller's data scope (no Flask).

An alarm is visible to whoever may read its sensor (the ``sensors`` layer's scope: city, own district, or the
enterprise owning the sensor's hazard source) — the same rule as the ``monitoring.alarm`` live events, so the list
and the stream agree. Each alarm is handled as an ``alarm_disposal`` case (the case engine: acknowledge, feedback,
clear, close); the list links to it (``case_id``, ``case_url``) and shows the case's state.

``hazard_sources.warning_level`` (红/橙/黄/蓝, kept by the alarm loop) is read only where it exists
(``to_jsonb(row) ->> name`` is null when the column is missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock
from core.errors import NotFound

LAYER = "sensors"
WARNING_LEVELS = ("red", "orange", "yellow", "blue")
SENSOR_STATUSES = ("normal", "alarm", "offline")
FAULT_KINDS = ("stale", "flat_line")  # a device fault, not a process alarm (as supervision.monitoring.alarms)
INT64_MAX = (1 << 63) - 1

_SELECT = """
SELECT a.id, a.sensor_code, s.kind AS sensor_kind, s.unit, s.hazard_source_code, h.name AS hazard_source_name,
       h.enterprise_uscc, e.name AS enterprise_name, s.district_code, a.rule, a.kind, a.level, a.message, a.value,
       a.threshold, a.state, a.raised_at, a.updated_at, a.cleared_at, a.repeats,
       ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, ms.rule_set,
       a.case_id, c.state AS case_state, c.code AS case_code,
       ct.definition -> 'states' -> c.state -> 'label' AS case_state_label
FROM monitoring_alarms a
JOIN sensors s ON s.code = a.sensor_code
JOIN hazard_sources h ON h.code = s.hazard_source_code
LEFT JOIN enterprises e ON e.uscc = h.enterprise_uscc
LEFT JOIN monitoring_sensors ms ON ms.sensor_code = a.sensor_code
LEFT JOIN cases c ON c.id = a.case_id
LEFT JOIN case_type_versions ct ON ct.case_type = c.case_type AND ct.version = c.type_version
"""


@dataclass(frozen=True)
class AlarmQuery:
    state: str                 # "open" (active + cleared within the window), "active", "cleared"
    cleared_within_h: int      # how far back a cleared alarm is still listed
    level: int | None
    hazard_source: str | None
    limit: int


def rule_labels(doc: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """``(rule set, rule id) -> label`` of the rules file (可燃气体二级报警 ...)."""
    out = {}
    for rule_set, body in (doc or {}).items():
        for rule in (body or {}).get("rules", []) if isinstance(body, Mapping) else []:
            if isinstance(rule, Mapping) and "id" in rule:
                out[(str(rule_set), str(rule["id"]))] = str(rule.get("label", rule["id"]))
    return out


def _row(r: Mapping[str, Any], labels: Mapping[tuple[str, str], str], root: str) -> dict[str, Any]:
    d = dict(r)
    rule_set = d.pop("rule_set")
    d["label"] = labels.get((rule_set, d["rule"]), d["rule"]) if rule_set else d["rule"]
    d["fault"] = d["kind"] in FAULT_KINDS
    for key in ("raised_at", "updated_at", "cleared_at"):
        d[key] = d[key].isoformat() if d[key] is not None else None
    d["case_url"] = f"{root}cases/{d['case_id']}" if d["case_id"] is not None else None
    return d


def list_alarms(conn: Connection, query: AlarmQuery, *, access: LayerAccess,
                labels: Mapping[tuple[str, str], str], root: str = "/") -> dict[str, Any]:
    """The caller's alarms: active first (most severe, most recent first), then those cleared lately (latest
    cleared first)."""
    access.require(LAYER)
    where, params = access.where(LAYER, alias="s")
    since = clock.now() - timedelta(hours=query.cleared_within_h)
    conditions = [where]
    if query.state == "active":
        conditions.append("a.state = 'active'")
    elif query.state == "cleared":
        conditions.append("a.state = 'cleared' AND a.cleared_at >= :since")
    else:
        conditions.append("(a.state = 'active' OR a.cleared_at >= :since)")
    if query.level is not None:
        conditions.append("a.level = :level")
    if query.hazard_source is not None:
        conditions.append("s.hazard_source_code = :hs")
    rows = conn.execute(text(
        f"{_SELECT} WHERE {' AND '.join(conditions)} "
        "ORDER BY a.state = 'active' DESC, CASE WHEN a.state = 'active' THEN a.level END DESC NULLS LAST, "
        "COALESCE(a.cleared_at, a.raised_at) DESC, a.id DESC LIMIT :limit"),
        {**params, "since": since, "level": query.level, "hs": query.hazard_source, "limit": query.limit + 1},
    ).mappings().all()
    alarms = [_row(r, labels, root) for r in rows[:query.limit]]
    return {"alarms": alarms, "truncated": len(rows) > query.limit, "state": query.state,
            "cleared_within_h": query.cleared_within_h}


def get_alarm(conn: Connection, alarm_id: int, *, access: LayerAccess,
              labels: Mapping[tuple[str, str], str], root: str = "/") -> dict[str, Any]:
    """One alarm; 404 when unknown or its sensor is outside the caller's scope (existence is not leaked)."""
    access.require(LAYER)
    where, params = access.where(LAYER, alias="s")
    row = None
    if 0 < alarm_id <= INT64_MAX:
        row = conn.execute(text(f"{_SELECT} WHERE a.id = :id AND {where}"), {**params, "id": alarm_id}
                           ).mappings().one_or_none()
    if row is None:
        if 0 < alarm_id <= INT64_MAX:
            access.note_hidden(conn, LAYER, alarm_id, table="monitoring_alarms", id_field="id",
                               target="monitoring_alarm")
        raise NotFound(f"no alarm {alarm_id}", f"不存在编号为 {alarm_id} 的报警", details={"id": alarm_id})
    return _row(row, labels, root)


def kpis(conn: Connection, *, access: LayerAccess) -> dict[str, Any]:
    """Headline figures: active alarms by level (process alarms and device faults apart), sensors by status,
    hazard sources by warning level (``None`` when the caller may not read the layer or no level is kept yet)."""
    access.require(LAYER)
    where, params = access.where(LAYER, alias="s")
    by_level = {1: 0, 2: 0}
    faults = 0
    for level, fault, n in conn.execute(text(
            "SELECT a.level, a.kind = ANY(:faults), count(*) FROM monitoring_alarms a "
            f"JOIN sensors s ON s.code = a.sensor_code WHERE a.state = 'active' AND {where} GROUP BY 1, 2"),
            {**params, "faults": list(FAULT_KINDS)}).all():
        if fault:
            faults += n
        else:
            by_level[int(level)] = by_level.get(int(level), 0) + n
    statuses = dict.fromkeys(SENSOR_STATUSES, 0)
    for status, n in conn.execute(text(f"SELECT s.status, count(*) FROM sensors s WHERE {where} GROUP BY 1"),
                                  params).all():
        statuses[status] = n
    warning: dict[str, int] | None = None
    if access.can("hazard_sources"):
        h_where, h_params = access.where("hazard_sources", alias="h")
        rows = conn.execute(text(
            "SELECT to_jsonb(h) ->> 'warning_level' AS level, (to_jsonb(h) ? 'warning_level') AS kept, count(*) "
            f"FROM hazard_sources h WHERE {h_where} GROUP BY 1, 2"), h_params).all()
        if any(kept for _level, kept, _n in rows):
            warning = dict.fromkeys(WARNING_LEVELS, 0)
            for level, _kept, n in rows:
                if level in warning:
                    warning[level] += n
    return {
        "active_alarms": sum(by_level.values()),
        "active_by_level": {str(k): v for k, v in sorted(by_level.items())},
        "device_faults": faults,
        "sensors_by_status": statuses,
        "hazard_sources_by_warning_level": warning,
    }


def warning_levels(conn: Connection, *, access: LayerAccess) -> dict[str, Any]:
    """The hazard sources the caller may read that have a warning level now (red first), for the map's rings.
    ``kept`` is false until the hazard_sources layer keeps warning levels (then the list is empty)."""
    access.require("hazard_sources")
    where, params = access.where("hazard_sources", alias="h")
    kept = bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'hazard_sources' AND column_name = 'warning_level')")).scalar())
    rows = [] if not kept else conn.execute(text(
        "SELECT h.code, h.name, h.enterprise_uscc, h.district_code, to_jsonb(h) ->> 'warning_level' AS level, "
        f"ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat FROM hazard_sources h WHERE {where} "
        "AND to_jsonb(h) ->> 'warning_level' = ANY(:levels) "
        "ORDER BY array_position(:levels, to_jsonb(h) ->> 'warning_level'), h.code"),
        {**params, "levels": list(WARNING_LEVELS)}).mappings().all()
    return {"kept": kept, "hazard_sources": [dict(r) for r in rows]}


def hazard_source_of(conn: Connection, code: str) -> dict[str, Any] | None:
    """The hazard source (point, chemicals) an alarm's sensor belongs to; scope was checked on the alarm."""
    row = conn.execute(text(
        "SELECT h.code, h.name, h.enterprise_uscc, h.district_code, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, "
        "to_jsonb(h) ->> 'warning_level' AS warning_level FROM hazard_sources h WHERE h.code = :c"),
        {"c": code}).mappings().one_or_none()
    if row is None:
        return None
    chemicals = conn.execute(text(
        "SELECT chemical_name AS name, cas, quantity_t FROM hazard_source_chemicals WHERE hazard_source_code = :c "
        "ORDER BY quantity_t DESC, id"), {"c": code}).mappings().all()
    return {**row, "chemicals": [{**c, "quantity_t": float(c["quantity_t"])} for c in chemicals]}


__all__ = ["AlarmQuery", "FAULT_KINDS", "INT64_MAX", "LAYER", "WARNING_LEVELS", "get_alarm", "hazard_source_of",
           "kpis", "list_alarms", "rule_labels", "warning_levels"]
