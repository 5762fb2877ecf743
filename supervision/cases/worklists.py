"""Work lists: 待办 (what the caller can act on now), 已办 (cases they acted on), 逾期 and 临期 (overdue and due
soon within their scope), with counts. One SQL query per list, driven by the case types' declarations: which
(case type, state) pairs have a transition the caller's roles may take, through which kind of scope."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock as core_clock
from core.errors import InvalidInput
from core.identity import Identity
from core.params import int_arg
from supervision.cases import registry
from supervision.cases.engine import MODULE, scope_sql

LISTS = ("todo", "done", "overdue", "due_soon", "all")


def _actionable(identity: Identity, kind: str, prefix: str) -> tuple[str, dict[str, Any]]:
    """The cases in a (case type, state) where the caller has a transition usable through scope ``kind``, as
    ``(c.case_type = :t AND c.state = ANY(:states)) OR ...``: plain column comparisons, which the planner can
    estimate and the open-case index (migration c002) can answer, unlike one concatenated ``type:state`` key."""
    states: dict[str, set[str]] = {}
    for ct in registry.case_types().values():
        for t in ct.transitions:
            if not t.system and identity.roles & t.roles and kind in t.scope:
                states.setdefault(ct.id, set()).update(t.from_states)
    states = {k: v for k, v in states.items() if v}
    if not states:
        return "FALSE", {}
    parts, params = [], {}
    for i, (type_id, names) in enumerate(sorted(states.items())):
        parts.append(f"(c.case_type = :{prefix}{i} AND c.state = ANY(CAST(:{prefix}{i}_s AS text[])))")
        params.update({f"{prefix}{i}": type_id, f"{prefix}{i}_s": sorted(names)})
    return "(" + " OR ".join(parts) + ")", params


def _todo_sql(access: LayerAccess, identity: Identity) -> tuple[str, dict[str, Any]]:
    write = access.module_scope(MODULE, "write")
    if write.empty:
        return "FALSE", {}
    if write.all:
        return _actionable(identity, "city", "wl_c")
    parts, params = [], {}
    if write.districts:
        actionable, p = _actionable(identity, "district", "wl_dp")
        parts.append(f"(c.district_code = ANY(CAST(:wl_d AS text[])) AND {actionable})")
        params.update(wl_d=sorted(write.districts), **p)
    if write.enterprises:
        actionable, p = _actionable(identity, "enterprise", "wl_up")
        parts.append(f"(c.enterprise_uscc = ANY(CAST(:wl_u AS text[])) AND {actionable})")
        params.update(wl_u=sorted(write.enterprises), **p)
    return "(" + " OR ".join(parts) + ")", params


def _clauses(list_name: str, access: LayerAccess, identity: Identity, config: Mapping[str, Any]
             ) -> tuple[list[str], dict[str, Any]]:
    """What puts a case (within the caller's read scope) on list ``list_name``."""
    today = core_clock.today()
    if list_name == "todo":
        todo, params = _todo_sql(access, identity)
        return ["c.closed_at IS NULL", todo], params
    if list_name == "done":
        return (["EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.actor = :wl_me)"],
                {"wl_me": identity.username})
    if list_name == "overdue":
        return ["c.closed_at IS NULL", "(c.overdue OR c.due_date < :wl_today)"], {"wl_today": today}
    if list_name == "due_soon":
        soon = today + timedelta(days=int(config.get("due_soon_days", 3)))
        return (["c.closed_at IS NULL", "NOT c.overdue", "c.due_date >= :wl_today",
                 "(c.warn_date <= :wl_today OR c.due_date <= :wl_soon)"], {"wl_today": today, "wl_soon": soon})
    return [], {}


def _where(list_name: str, access: LayerAccess, identity: Identity, config: Mapping[str, Any]
           ) -> tuple[str, dict[str, Any]]:
    read, params = scope_sql(access.module_scope(MODULE, "read"))
    clauses, more = _clauses(list_name, access, identity, config)
    return " AND ".join([read, *clauses]), {**params, **more}


def counts(conn: Connection, *, access: LayerAccess, identity: Identity, config: Mapping[str, Any]) -> dict[str, int]:
    """The four counts in one statement: one pass over the open cases in scope (index-only with the open-case
    index of migration c002) for 待办, 逾期 and 临期, and 已办 (closed cases too) as a sub-query."""
    read, params = scope_sql(access.module_scope(MODULE, "read"))
    columns = []
    for name in ("todo", "overdue", "due_soon"):
        clauses, more = _clauses(name, access, identity, config)
        params.update(more)
        # closed_at is the index's predicate, not one of its columns: naming it again would force heap reads
        clauses = [c for c in clauses if c != "c.closed_at IS NULL"]
        columns.append(f"count(*) FILTER (WHERE {' AND '.join(clauses)}) AS {name}")
    done, more = _clauses("done", access, identity, config)
    params.update(more)
    columns.append(f"(SELECT count(*) FROM cases c WHERE {' AND '.join([read, *done])}) AS done")
    row = conn.execute(text(f"SELECT {', '.join(columns)} FROM cases c WHERE {read} AND c.closed_at IS NULL"),
                       params).mappings().one()
    return {name: int(row[name]) for name in ("todo", "done", "overdue", "due_soon")}


def listing(conn: Connection, args: Mapping[str, str], *, access: LayerAccess, identity: Identity,
            config: Mapping[str, Any]) -> dict[str, Any]:
    name = args.get("list", "todo")
    if name not in LISTS:
        raise InvalidInput("list", "one of " + ", ".join(LISTS), value=name)
    where, params = _where(name, access, identity, config)
    for key, column in (("type", "case_type"), ("state", "state"), ("anchor_kind", "anchor_kind"),
                        ("anchor_id", "anchor_id"), ("district_code", "district_code")):
        if key in args:
            value = args[key]
            if key == "type" and value not in registry.case_types():
                raise InvalidInput("type", "one of " + ", ".join(sorted(registry.case_types())), value=value)
            where += f" AND c.{column} = :f_{key}"
            params[f"f_{key}"] = value
    limit = int_arg(args, "limit", 50, 1, 500)
    offset = int_arg(args, "offset", 0, 0, 1_000_000)
    total = conn.execute(text(f"SELECT count(*) FROM cases c WHERE {where}"), params).scalar_one()
    order = "c.due_date ASC NULLS LAST, c.id DESC" if name in ("todo", "overdue", "due_soon") else "c.updated_at DESC"
    rows = conn.execute(text(
        f"SELECT c.id, c.code, c.case_type, c.title, c.state, c.anchor_kind, c.anchor_id, c.district_code, "
        f"c.enterprise_uscc, c.due_date, c.warn_date, c.due_at, c.overdue OR c.due_date < :today AS overdue, c.opened_at, "
        f"c.updated_at, c.closed_at FROM cases c WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset"),
        {**params, "today": core_clock.today(), "limit": limit, "offset": offset}).mappings()
    types = registry.case_types()
    items = []
    for r in rows:
        item = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        item["overdue"] = bool(r["overdue"])
        ct = types.get(r["case_type"])
        state = ct.states.get(r["state"]) if ct else None
        item["type_title"] = dict(ct.title) if ct else None
        item["state_label"] = dict(state.label) if state else None
        items.append(item)
    return {"list": name, "total": total, "limit": limit, "offset": offset, "items": items}


__all__ = ["LISTS", "counts", "listing"]
