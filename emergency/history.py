"""The one place where incident changes are recorded and announced.

Every change to an incident, its reports, its dispatch orders or its material requests goes through
:func:`record_change`: it writes the ``incident_events`` row inside the caller's transaction and queues the live
event, which :func:`unit_of_work` publishes only after the transaction commits (a rolled-back change is never
announced). Every event carries the scope tag of the row it is about (the incident's district and enterprise; a
resource's district).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import changes as core_changes
from core.changes import Changes
from core.realtime import ScopeTag
from emergency.events import EVENT_TYPES

_SCOPE_OF = text("SELECT district_code, enterprise_uscc FROM incidents WHERE id = :id")
_INSERT = text(
    "INSERT INTO incident_events (incident_id, event, from_status, to_status, data, actor) "
    "VALUES (:incident_id, :event, :from_status, :to_status, CAST(:data AS jsonb), :actor) RETURNING id, at"
)



@contextmanager
def unit_of_work(conn: Connection) -> Iterator[Changes]:
    """:func:`core.changes.unit_of_work` with the emergency module's declared event types."""
    with core_changes.unit_of_work(conn, EVENT_TYPES) as changes:
        yield changes


def record_change(conn: Connection, changes: Changes, *, incident_id: int, event: str,
                  data: dict[str, Any] | None = None, from_status: str | None = None,
                  to_status: str | None = None, actor: str | None = None) -> dict[str, Any]:
    """Record one incident change in its history and queue ``incident.<event>`` for publication."""
    payload = dict(data or {})
    row = conn.execute(_INSERT, {"incident_id": incident_id, "event": event, "from_status": from_status,
                                 "to_status": to_status, "data": json.dumps(payload, ensure_ascii=False,
                                                                            default=_json_default),
                                 "actor": actor}).one()
    entry = {"id": row.id, "incident_id": incident_id, "event": event, "from_status": from_status,
             "to_status": to_status, "data": payload, "actor": actor, "at": row.at.isoformat()}
    # read here, after the change, so that no caller can forget the tag or give a stale one
    district, uscc = conn.execute(_SCOPE_OF, {"id": incident_id}).one()
    changes.announce(f"incident.{event}", entry, scope=ScopeTag("incidents", district, uscc))
    return entry


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
