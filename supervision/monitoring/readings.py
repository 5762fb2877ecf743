"""A sensor's readings for people: its latest value, its trend from the aggregates, its set points (no Flask).

* :func:`sensor_document` — one sensor of the ``sensors`` layer with its latest value (``monitoring_latest``), its
  active alarms and the set points of its level rules (``rules.yaml`` resolved for the sensor, the same thresholds
  the ingest worker applies), so a chart can draw them as lines;
* :func:`series` — min / avg / max per bucket over the last hour (one-minute buckets), day or week (one-hour
  buckets), from ``monitoring_agg_1m`` / ``monitoring_agg_1h`` (never the raw readings: a week is 168 rows);
* :func:`hazard_source_sensors` — the latest values of every sensor of one hazard source.

Rows outside the caller's read scope of the ``sensors`` (``hazard_sources``) layer do not exist: ``NotFound``, the
same answer as an unknown code (the probe is audited by :meth:`LayerAccess.note_hidden`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import clock
from core.errors import NotFound
from core.scope import RowAccess
from supervision.monitoring.rules import rules_for


@dataclass(frozen=True)
class Range:
    name: str
    table: str           # the aggregate read
    bucket: str          # date_trunc unit of its buckets
    step: timedelta      # one bucket
    buckets: int         # how many, the current one included


RANGES: dict[str, Range] = {
    "hour": Range("hour", "monitoring_agg_1m", "minute", timedelta(minutes=1), 60),
    "day": Range("day", "monitoring_agg_1h", "hour", timedelta(hours=1), 24),
    "week": Range("week", "monitoring_agg_1h", "hour", timedelta(hours=1), 24 * 7),
}

SENSOR_SQL = """
SELECT s.code, s.hazard_source_code, h.name AS hazard_source_name, h.enterprise_uscc, s.kind, s.unit,
       s.alarm_low, s.alarm_high, s.status, s.district_code,
       ms.rule_set, ms.range_low, ms.range_high, ms.thresholds,
       l.ts AS latest_ts, l.value AS latest_value, l.quality AS latest_quality
FROM sensors s
LEFT JOIN hazard_sources h ON h.code = s.hazard_source_code
LEFT JOIN monitoring_sensors ms ON ms.sensor_code = s.code
LEFT JOIN monitoring_latest l ON l.sensor_code = s.code
WHERE {where}
"""

ALARMS_SQL = """
SELECT id, sensor_code, rule, kind, level, value, threshold, message, raised_at, updated_at
FROM monitoring_alarms WHERE state = 'active' AND sensor_code = ANY(:codes) ORDER BY level DESC, raised_at
"""


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def set_points(rules_doc: Mapping[str, Any], row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sensor's level thresholds, most severe first (those a chart draws). A sensor without device settings
    (not registered for ingest) shows the layer's own alarm thresholds."""
    params = {"alarm_low": row["alarm_low"], "alarm_high": row["alarm_high"], "range_low": row["range_low"],
              "range_high": row["range_high"], **(row["thresholds"] or {})}
    if row["rule_set"]:
        lines = [{"rule": r.id, "label": r.label or r.id, "level": r.level, "direction": r.direction,
                  "value": r.threshold}
                 for r in rules_for(rules_doc, row["rule_set"], params) if r.kind == "level"]
    else:
        lines = [{"rule": rule, "label": label, "level": 1, "direction": direction, "value": params[key]}
                 for rule, label, direction, key in (("high", "高报", "high", "alarm_high"),
                                                      ("low", "低报", "low", "alarm_low"))
                 if params[key] is not None]
    return sorted(lines, key=lambda line: (-line["level"], line["rule"]))


def _latest(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if row["latest_ts"] is None:
        return None
    return {"ts": _iso(row["latest_ts"]), "value": row["latest_value"], "quality": row["latest_quality"]}


def _alarm(a: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": a["id"], "rule": a["rule"], "kind": a["kind"], "level": a["level"], "value": a["value"],
            "threshold": a["threshold"], "message": a["message"], "raised_at": _iso(a["raised_at"]),
            "updated_at": _iso(a["updated_at"])}


def _sensor(row: Mapping[str, Any], rules_doc: Mapping[str, Any], alarms: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "code": row["code"], "kind": row["kind"], "unit": row["unit"], "status": row["status"],
        "hazard_source": {"code": row["hazard_source_code"], "name": row["hazard_source_name"]},
        "enterprise_uscc": row["enterprise_uscc"], "district_code": row["district_code"],
        "thresholds": {"alarm_low": row["alarm_low"], "alarm_high": row["alarm_high"]},
        "range": {"low": row["range_low"], "high": row["range_high"]},
        "set_points": set_points(rules_doc, row),
        "latest": _latest(row),
        "alarms": alarms,
    }


def _active_alarms(conn: Connection, codes: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in codes}
    for a in conn.execute(text(ALARMS_SQL), {"codes": codes}).mappings():
        out[a["sensor_code"]].append(_alarm(a))
    return out


def _find(conn: Connection, code: str, access: RowAccess) -> Mapping[str, Any]:
    where, params = access.where("sensors", alias="s")
    row = conn.execute(text(SENSOR_SQL.format(where=f"s.code = :code AND {where}")),
                       {**params, "code": code}).mappings().first()
    if row is None:
        note = getattr(access, "note_hidden", None)
        if note is not None:
            note(conn, "sensors", code, id_field="code")
        raise NotFound(f"no sensor {code!r}", f"监测点 {code} 不存在", details={"sensor": code})
    return row


def sensor_document(conn: Connection, code: str, rules_doc: Mapping[str, Any], *,
                    access: RowAccess) -> dict[str, Any]:
    """One sensor, its latest value, active alarms and set points."""
    row = _find(conn, code, access)
    return _sensor(row, rules_doc, _active_alarms(conn, [row["code"]])[row["code"]])


def series(conn: Connection, code: str, range_name: str, rules_doc: Mapping[str, Any], *,
           access: RowAccess, now: datetime | None = None) -> dict[str, Any]:
    """The sensor's buckets over ``range_name`` (a key of :data:`RANGES`), oldest first, only those with readings."""
    rng = RANGES[range_name]
    row = _find(conn, code, access)
    now = now or clock.now()
    end = conn.execute(text(f"SELECT date_trunc('{rng.bucket}', CAST(:now AS timestamptz))"),
                       {"now": now}).scalar_one()
    start = end - rng.step * (rng.buckets - 1)
    points = [{"t": _iso(b), "n": n, "min": lo, "avg": total / n, "max": hi}
              for b, n, total, lo, hi in conn.execute(text(
                  f"SELECT bucket, n, total, min_value, max_value FROM {rng.table} "
                  "WHERE sensor_code = :code AND bucket >= :start AND bucket <= :end ORDER BY bucket"),
                  {"code": row["code"], "start": start, "end": end})]
    return {
        "sensor": _sensor(row, rules_doc, _active_alarms(conn, [row["code"]])[row["code"]]),
        "range": rng.name, "bucket_seconds": int(rng.step.total_seconds()),
        "from": _iso(start), "to": _iso(end + rng.step), "points": points,
    }


def hazard_source_sensors(conn: Connection, code: str, rules_doc: Mapping[str, Any], *,
                          access: RowAccess) -> dict[str, Any]:
    """A hazard source the caller may read and the latest values of its sensors they may read."""
    where, params = access.where("hazard_sources", alias="h")
    source = conn.execute(text(f"SELECT h.code, h.name, h.enterprise_uscc FROM hazard_sources h "
                               f"WHERE h.code = :code AND {where}"), {**params, "code": code}).mappings().first()
    if source is None:
        note = getattr(access, "note_hidden", None)
        if note is not None:
            note(conn, "hazard_sources", code, id_field="code")
        raise NotFound(f"no hazard source {code!r}", f"危险源 {code} 不存在", details={"hazard_source": code})
    s_where, s_params = access.where("sensors", alias="s")
    rows = conn.execute(text(SENSOR_SQL.format(where=f"s.hazard_source_code = :code AND {s_where}")
                             + " ORDER BY s.code"), {**s_params, "code": source["code"]}).mappings().all()
    alarms = _active_alarms(conn, [r["code"] for r in rows])
    return {"hazard_source": {"code": source["code"], "name": source["name"],
                              "enterprise_uscc": source["enterprise_uscc"]},
            "sensors": [_sensor(r, rules_doc, alarms[r["code"]]) for r in rows]}


__all__ = ["RANGES", "Range", "hazard_source_sensors", "sensor_document", "series", "set_points"]
