"""The live events of monitoring, sent once the batch (or sweep) that caused them has committed.

``monitoring.alarm`` for each alarm raised or cleared (not for repeats: a gas reading every second above its level
would flood every console), ``monitoring.sensor_status`` for each sensor whose map status changed. Both are tagged
with the sensor's district and its hazard source's enterprise, so each SSE stream gets only what its subscriber may
read (app/console/events.py). The payload is read back from the committed rows: what a client is told is what the
map and the API then show.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core import realtime
from core.realtime import ScopeTag
from supervision.monitoring.alarms import Changes

log = logging.getLogger(__name__)

_ALARMS = """
SELECT a.id, a.sensor_code, s.hazard_source_code, h.enterprise_uscc, s.district_code, a.rule, a.kind, a.level,
       a.message, a.value, a.threshold, s.unit, a.state, a.raised_at, a.cleared_at, a.updated_at, a.case_id,
       ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat
FROM monitoring_alarms a JOIN sensors s ON s.code = a.sensor_code
LEFT JOIN hazard_sources h ON h.code = s.hazard_source_code
WHERE a.id = ANY(%s) ORDER BY a.updated_at, a.id
"""

_SENSORS = """
SELECT s.code, s.hazard_source_code, h.enterprise_uscc, s.district_code
FROM sensors s LEFT JOIN hazard_sources h ON h.code = s.hazard_source_code WHERE s.code = ANY(%s)
"""


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def alarm_event(row: dict[str, Any]) -> dict[str, Any]:
    """The ``monitoring.alarm`` payload of one alarm row (the query above)."""
    cleared = row["state"] == "cleared"
    return {"id": row["id"], "sensor_code": row["sensor_code"], "hazard_source_code": row["hazard_source_code"],
            "enterprise_uscc": row["enterprise_uscc"], "district_code": row["district_code"], "rule": row["rule"],
            "kind": row["kind"], "level": row["level"], "label": row["message"], "message": row["message"],
            "value": row["value"], "threshold": row["threshold"], "unit": row["unit"],
            "action": "clear" if cleared else "raise", "state": row["state"], "raised_at": _iso(row["raised_at"]),
            "at": _iso(row["cleared_at"] if cleared else row["raised_at"]), "lon": row["lon"], "lat": row["lat"],
            "case_id": row["case_id"]}


def publish_changes(conn: psycopg.Connection, changes: Changes) -> int:
    """Publish the events of committed ``changes``; returns how many were sent. Never raises: the readings are
    stored whatever happens to their events (a failure is logged)."""
    if not changes.alarms and not changes.statuses:
        return 0
    sent = 0
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            alarm_rows = cur.execute(_ALARMS, (sorted(set(changes.alarms)),)).fetchall() if changes.alarms else []
            codes = sorted({code for code, _ in changes.statuses})
            owners = {r["code"]: r for r in cur.execute(_SENSORS, (codes,)).fetchall()} if codes else {}
        conn.rollback()   # a read only: end it, the worker's next batch starts its own transaction
    except psycopg.Error:
        log.exception("monitoring: the events of a committed batch could not be read; they are not sent")
        try:
            conn.rollback()
        except psycopg.Error:
            pass
        return 0
    for row in alarm_rows:
        realtime.publish("monitoring.alarm", alarm_event(row),
                         scope=ScopeTag("sensors", row["district_code"], row["enterprise_uscc"]))
        sent += 1
    latest = dict(changes.statuses)   # a sensor that changed twice in one batch: its last status
    for code, status in latest.items():
        owner = owners.get(code)
        if owner is None:
            continue
        realtime.publish("monitoring.sensor_status",
                         {"sensor_code": code, "status": status, "hazard_source_code": owner["hazard_source_code"]},
                         scope=ScopeTag("sensors", owner["district_code"], owner["enterprise_uscc"]))
        sent += 1
    return sent


__all__ = ["alarm_event", "publish_changes"]
