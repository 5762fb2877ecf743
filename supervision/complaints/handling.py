"""Handling a complaint: its assignment to a district (a case effect) and what staff read of it.

The complaint is a case of type ``complaint`` (cases/complaint.yaml); moving it is the case engine's work
(``POST /api/cases/<id>/transitions``). Two things are this module's own:

* :func:`assign_district`, the effect ``assign_complaint_district``: the case's district becomes the one the city
  chose (or the city again when a district returns it), which is what the data scope of every district reader
  follows. Until then the case belongs to the city itself (its GB/T 2260 code ``xxxx00``, :func:`city_code`), so no
  district sees a complaint the city has not triaged and assigned.
* the staff view (``GET /api/complaints/<id>``: the complaint within the reader's scope, never its reporter) and the
  reporter (``GET /api/complaints/reporters/<id>``): the contact of a named reporter, for the policy family
  ``complaint_reporters`` only, which the policy gives to the city regulator (the city's complaints office, which
  triages, may need to call the reporter back and records rewards); each reading is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import InvalidInput, NotFound
from core.identity import Identity
from supervision.cases import registry
from supervision.cases.engine import EffectContext, scope_sql

CASE_TYPE = "complaint"
MODULE = "complaints"
REPORTERS = "complaint_reporters"


def city_code(conn: Connection) -> str:
    """The city's own division code: its districts' common prefecture part and ``00`` (329902 -> 329900)."""
    first = conn.execute(text("SELECT min(code) FROM districts")).scalar()
    if not first:
        raise NotFound("the city has no districts on record", "本市行政区划数据缺失")
    return first[:4] + "00"


def assign_district(ctx: EffectContext, spec: Mapping[str, Any]) -> None:
    """The effect ``assign_complaint_district: {district: <expression>}`` (``'city'``: back to the city)."""
    code = ctx.evaluate(str(spec["district"]))
    if code == "city":
        code = city_code(ctx.conn)
    elif ctx.conn.execute(text("SELECT 1 FROM districts WHERE code = :c"), {"c": code}).first() is None:
        names = ", ".join(ctx.conn.execute(text("SELECT code FROM districts ORDER BY code")).scalars())
        raise InvalidInput("form.district_code", f"the code of one of the city's districts ({names})", value=code,
                           message_zh=f"承办区县代码 {code} 不是本市的区县（可选：{names}）",
                           details={"field": "district_code", "reason": "no such district"})
    ctx.conn.execute(text(
        "UPDATE cases c SET district_code = CAST(:d AS varchar), grid_cell_code = (SELECT g.code FROM grid_cells g "
        "WHERE g.district_code = CAST(:d AS varchar) AND ST_Intersects(g.geom, c.geom) ORDER BY g.code LIMIT 1) "
        "WHERE c.id = :id"),
        {"d": code, "id": ctx.case["id"]})
    ctx.case["district_code"] = code
    ctx.results["district_code"] = code


def _not_found(case_id: Any) -> NotFound:
    return NotFound(f"no complaint with id {case_id}", f"不存在编号为 {case_id} 的举报", details={"id": case_id})


def _case(conn: Connection, case_id: int, access: LayerAccess, module: str) -> Mapping[str, Any]:
    where, params = scope_sql(access.module_scope(module, "read"))
    row = conn.execute(text(
        f"SELECT c.id, c.code, c.state, c.type_version, c.district_code, c.data, c.opened_at, c.due_date, c.overdue, "
        f"c.closed_at, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat FROM cases c WHERE c.id = :id "
        f"AND c.case_type = :t AND {where}"), {**params, "id": case_id, "t": CASE_TYPE}).mappings().first()
    if row is None:
        # a complaint outside the scope is a probe worth auditing; another kind of case is simply not a complaint
        if conn.execute(text("SELECT 1 FROM complaints WHERE case_id = :id"), {"id": case_id}).first():
            access.note_hidden(conn, "cases", case_id, table="cases", target=f"case:{case_id}")
        raise _not_found(case_id)
    return row


def staff_view(conn: Connection, case_id: int, *, access: LayerAccess) -> dict[str, Any]:
    """What staff read of a complaint in their scope: the place and what was reported, never who reported it."""
    row = _case(conn, case_id, access, MODULE)
    ct = registry.pinned(conn, CASE_TYPE, row["type_version"])
    data = dict(row["data"] or {})
    state = ct.states.get(row["state"])
    return {
        "id": row["id"], "number": row["code"], "state": row["state"],
        "state_label": dict(state.label) if state else None, "district_code": row["district_code"],
        "assigned": row["district_code"] != city_code(conn),
        "category": data.get("category"), "description": data.get("description"), "address": data.get("address"),
        "place_name": data.get("place_name"), "photos": list(data.get("photos") or []),
        "location": {"located": bool(data.get("located")), "lon": round(row["lon"], 7), "lat": round(row["lat"], 7),
                     "datum": data.get("datum"), "given_lon": data.get("given_lon"),
                     "given_lat": data.get("given_lat"), "suggested_district": data.get("suggested_district")},
        "filed_at": row["opened_at"].isoformat(), "due_date": row["due_date"] and row["due_date"].isoformat(),
        "overdue": row["overdue"], "reply": data.get("reply"), "closed_at": row["closed_at"] and row["closed_at"].isoformat(),
        "case_url": f"/cases/{row['id']}",
    }


def reporter(conn: Connection, case_id: int, *, access: LayerAccess, identity: Identity) -> dict[str, Any]:
    """The reporter of a complaint (whether anonymous, and the contact of a named one); the reading is audited."""
    from access.audit import record

    with conn.begin():
        row = _case(conn, case_id, access, REPORTERS)
        who = conn.execute(text("SELECT anonymous, contact_name, contact_phone FROM complaints WHERE case_id = :id"),
                           {"id": case_id}).mappings().one()
        record(conn=conn, action="complaint.reporter_read", identity=identity, object_type="case",
               object_id=case_id, details={"number": row["code"], "anonymous": who["anonymous"]})
    return {"id": case_id, "number": row["code"], **dict(who)}


__all__ = ["CASE_TYPE", "MODULE", "REPORTERS", "assign_district", "city_code", "reporter", "staff_view"]
