"""The one place where incident changes are recorded and announced.

Every change to an incident, its reports, its dispatch orders or its material requests goes through
:func:`record_change`: it writes the ``incident_events`` row inside the caller's transaction and queues the live
event, which :func:`unit_of_work` publishes only after the transaction commits (a rolled-back change is never
announced). The audit log of the auth module is to be wired in here, once.

Every live event carries the scope tag of the row it is about (the incident's district and enterprise; a resource's
district), so the live stream shows it only to those who may read that row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core.realtime import ScopeTag, publish

#: Live event types published by the emergency module (``core.realtime``), for the console and the large screen.
EVENT_TYPES: dict[str, str] = {
    "incident.created": "接报：新事件",
    "incident.updated": "事件信息修改（含响应级别）",
    "incident.status_changed": "事件状态变更",
    "incident.report_added": "续报",
    "incident.dispatch_ordered": "下达调度指令",
    "incident.dispatch_status_changed": "调度指令状态变更",
    "incident.material_requested": "物资调用",
    "resource.changed": "应急资源新增/修改/导入",
}

_SCOPE_OF = text("SELECT district_code, enterprise_uscc FROM incidents WHERE id = :id")
_INSERT = text(
    "INSERT INTO incident_events (incident_id, event, from_status, to_status, data, actor) "
    "VALUES (:incident_id, :event, :from_status, :to_status, CAST(:data AS jsonb), :actor) RETURNING id, at"
)


@dataclass
class Changes:
    """Live events waiting for the commit of the transaction that made them."""

    pending: list[tuple[str, dict[str, Any], ScopeTag]] = field(default_factory=list)

    def announce(self, event_type: str, data: dict[str, Any], *, scope: ScopeTag) -> None:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"undeclared live event type {event_type!r}")
        self.pending.append((event_type, data, scope))


@contextmanager
def unit_of_work(conn: Connection) -> Iterator[Changes]:
    """One transaction on ``conn``; its changes are published once it has committed."""
    if conn.in_transaction():
        # A half-finished transaction of someone else's would be committed with ours: a programming error.
        raise RuntimeError("unit_of_work needs a connection without an open transaction")
    changes = Changes()
    with conn.begin():
        yield changes
    for event_type, data, scope in changes.pending:
        publish(event_type, data, scope=scope)


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
