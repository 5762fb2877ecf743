"""The one place where record changes are written down and announced.

Every create, edit, deactivation, reactivation and grade change goes through :func:`record`: it writes the
``record_history`` row inside the caller's transaction and queues the live event ``record.<action>``, which
:func:`unit_of_work` publishes only once the transaction has committed. The event carries the scope tag of the
record after the change (its layer, district and enterprise), so the live stream shows it only to those who may
read the record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import changes as core_changes
from core.changes import Changes
from core.realtime import ScopeTag
from supervision.records.models import ACTIONS
from supervision.records.schemas import Kind

EVENT_TYPES = tuple(f"record.{a}" for a in ACTIONS)
_INSERT = text(
    "INSERT INTO record_history (record_kind, record_key, version, action, changes, actor, source, case_id, "
    "district_code, enterprise_uscc, at) VALUES (:kind, :key, :version, :action, CAST(:changes AS jsonb), :actor, "
    ":source, :case_id, :district, :uscc, :at) RETURNING id")
_VERSION = text("SELECT coalesce(max(version), 0) FROM record_history WHERE record_kind = :kind AND record_key = :key")


@contextmanager
def unit_of_work(conn: Connection) -> Iterator[Changes]:
    """:func:`core.changes.unit_of_work` with the records module's declared event types."""
    with core_changes.unit_of_work(conn, EVENT_TYPES) as changes:
        yield changes


def current_version(conn: Connection, kind: Kind, key: str) -> int:
    """The record's version: the number of its recorded changes (0 for a record made before the records module)."""
    return int(conn.execute(_VERSION, {"kind": kind.name, "key": key}).scalar_one())


def jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def record(conn: Connection, changes: Changes, *, kind: Kind, key: str, version: int, action: str,
           diff: dict[str, Any], actor: str, source: str, at: datetime, district: str | None,
           uscc: str | None, case_id: int | None = None) -> dict[str, Any]:
    """Write one history row and queue its live event; the entry as the history API lists it."""
    payload = jsonable(diff)
    entry_id = conn.execute(_INSERT, {
        "kind": kind.name, "key": key, "version": version, "action": action,
        "changes": json.dumps(payload, ensure_ascii=False), "actor": actor, "source": source, "case_id": case_id,
        "district": district, "uscc": uscc, "at": at}).scalar_one()
    entry = {"id": entry_id, "kind": kind.name, "key": key, "version": version, "action": action,
             "changes": payload, "actor": actor, "source": source, "case_id": case_id, "at": at.isoformat()}
    changes.announce(f"record.{action}", entry, scope=ScopeTag(kind.layer_id, district, uscc))
    return entry


def entries(conn: Connection, kind: Kind, key: str) -> list[dict[str, Any]]:
    """The record's history, oldest first."""
    rows = conn.execute(text(
        "SELECT id, version, action, changes, actor, source, case_id, at FROM record_history "
        "WHERE record_kind = :kind AND record_key = :key ORDER BY id"), {"kind": kind.name, "key": key}).mappings()
    return [{"id": r["id"], "kind": kind.name, "key": key, "version": r["version"], "action": r["action"],
             "changes": r["changes"], "actor": r["actor"], "source": r["source"], "case_id": r["case_id"],
             "at": r["at"].isoformat()} for r in rows]


__all__ = ["EVENT_TYPES", "current_version", "entries", "jsonable", "record", "unit_of_work"]
