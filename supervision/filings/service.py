"""The filing status of hazard sources as the API offers it (no Flask here).

A hazard source is read within the caller's scope of the ``hazard_sources`` layer (a district regulator their
district's, an enterprise user its own); one outside it does not exist for them (404, and the probe is audited).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import InvalidInput, NotFound
from core.params import int_arg
from supervision.filings import plans, status
from supervision.hazard_sources.schemas import hazard_source_code

LAYER = "hazard_sources"
LIST_PARAMS = frozenset({"status", "limit", "lang"})


def hazard_source_status(conn: Connection, code: str, *, access: LayerAccess) -> dict[str, Any]:
    """Filed / overdue / missing for hazard source ``code``, its latest filing and the one under way."""
    code = hazard_source_code(code)
    where, params = access.where(LAYER, alias="h")
    row = conn.execute(text(f"SELECT h.code, h.name, h.grade, h.enterprise_uscc, h.district_code FROM hazard_sources h "
                            f"WHERE h.code = :code AND {where}"), {**params, "code": code}).mappings().first()
    if row is None:
        access.note_hidden(conn, LAYER, code, id_field="code")
        raise NotFound(f"no hazard source with code {code}", f"不存在编码为 {code} 的重大危险源", details={"code": code})
    return {**dict(row), **status.of(conn, code)}


def hazard_sources(conn: Connection, args: Mapping[str, str], *, access: LayerAccess) -> dict[str, Any]:
    """The hazard sources in the caller's scope with their filing status as the map shows it (``?status=``)."""
    unknown = sorted(set(args) - LIST_PARAMS)
    if unknown:
        raise InvalidInput(unknown[0], "query parameters: " + ", ".join(sorted(LIST_PARAMS)),
                           details={"reason": "unknown query parameter"})
    wanted = args.get("status")
    if wanted is not None and wanted not in status.STATUSES:
        raise InvalidInput("status", "one of " + ", ".join(status.STATUSES), value=wanted)
    limit = int_arg(args, "limit", 500, 1, 5000)
    where, params = access.where(LAYER, alias="h")
    sql = (f"SELECT h.code, h.name, h.grade, h.enterprise_uscc, h.district_code, h.filing_status AS status, "
           f"h.filing_number, h.filing_valid_to FROM hazard_sources h WHERE {where} AND h.status = 'active'"
           + (" AND h.filing_status = :wanted" if wanted else "") + " ORDER BY h.code LIMIT :limit")
    rows = [dict(r) for r in conn.execute(text(sql), {**params, "wanted": wanted, "limit": limit}).mappings()]
    for r in rows:
        r["filing_valid_to"] = r["filing_valid_to"] and r["filing_valid_to"].isoformat()
        r["status_label"] = dict(status.STATUSES[r["status"]])
    counts = {k: 0 for k in status.STATUSES}
    for r in conn.execute(text(f"SELECT h.filing_status AS s, count(*) AS n FROM hazard_sources h WHERE {where} "
                               f"AND h.status = 'active' GROUP BY 1"), params):
        counts[r.s] = r.n
    return {"hazard_sources": rows, "counts": counts, "limit": limit}


def plan_elements() -> dict[str, Any]:
    """GB/T 29639-2020's parts and elements (what the filing form's element lists take)."""
    return plans.elements()


__all__ = ["hazard_source_status", "hazard_sources", "plan_elements"]
