"""The filing status of hazard sources: filed / overdue / missing, from their 重大危险源备案 cases.

* ``filed``   — the latest filed filing is still valid (three years from its filing day);
* ``overdue`` — it was filed, but that filing has run out (the hazard source must be assessed and filed again);
* ``missing`` — it was never filed.

A filing under way (submitted, under review, returned for correction) does not change the status; it is shown
beside it (``pending``). The status is computed from the cases (:func:`of`), and the same computation is written to
the hazard source's layer row (:func:`refresh`: ``filing_status``, ``filing_number``, ``filing_valid_to``) when a
filing is filed and when one runs out (the case type's re-filing clock), so the map, WMS/WFS, the OGC API and the
console filter on it without asking this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import clock as core_clock

CASE_TYPE = "hazard_source_filing"
STATUSES = {"filed": {"zh-CN": "已备案", "en": "Filed"}, "overdue": {"zh-CN": "备案逾期", "en": "Overdue"},
            "missing": {"zh-CN": "未备案", "en": "Not filed"}}

_LATEST = text(
    "SELECT c.id, c.code, c.data->'filing' AS filing FROM cases c WHERE c.case_type = :t AND c.anchor_kind = "
    "'hazard_source' AND c.anchor_id = :code AND c.state = 'filed' AND c.data ? 'filing' "
    "ORDER BY c.data->'filing'->>'valid_to' DESC, c.id DESC LIMIT 1")
_PENDING = text(
    "SELECT c.id, c.code, c.state FROM cases c WHERE c.case_type = :t AND c.anchor_kind = 'hazard_source' "
    "AND c.anchor_id = :code AND c.closed_at IS NULL ORDER BY c.id DESC LIMIT 1")


def of(conn: Connection, code: str, today: date | None = None,
       current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The filing status of hazard source ``code`` (``current``: a case being filed in this transaction, whose
    data is not yet written)."""
    today = today or core_clock.today()
    latest = conn.execute(_LATEST, {"t": CASE_TYPE, "code": code}).mappings().first()
    filing = dict(latest["filing"]) if latest else None
    case_ref = {"id": latest["id"], "code": latest["code"]} if latest else None
    mine = (current or {}).get("data", {}).get("filing")
    if mine and (filing is None or mine["valid_to"] >= filing["valid_to"]):
        filing, case_ref = dict(mine), {"id": current["id"], "code": current["code"]}
    if filing is None:
        value = "missing"
    else:
        value = "filed" if date.fromisoformat(filing["valid_to"]) >= today else "overdue"
    pending = conn.execute(_PENDING, {"t": CASE_TYPE, "code": code}).mappings().first()
    if pending is not None and current is not None and pending["id"] == current.get("id"):
        pending = None
    return {"hazard_source": code, "status": value, "status_label": dict(STATUSES[value]),
            "filing": {**filing, "case": case_ref} if filing else None,
            "pending": dict(pending) if pending else None}


def refresh(conn: Connection, code: str | None, current: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """Write the filing status of hazard source ``code`` to its layer row; returns it (as :func:`of`)."""
    if not code:
        return None
    found = of(conn, code, current=current)
    filing = found["filing"] or {}
    conn.execute(text("UPDATE hazard_sources SET filing_status = :s, filing_number = :n, filing_valid_to = CAST(:v AS date) "
                      "WHERE code = :code"),
                 {"s": found["status"], "n": filing.get("number"), "v": filing.get("valid_to"), "code": code})
    return found


__all__ = ["CASE_TYPE", "STATUSES", "of", "refresh"]
