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


def _pairs(identity: Identity, kind: str) -> list[str]:
    """``case_type:state`` pairs where the caller has a transition usable through scope ``kind``."""
    out = []
    for ct in registry.case_types().values():
        for t in ct.transitions:
            if not t.system and identity.roles & t.roles and kind in t.scope:
                out.extend(f"{ct.id}:{s}" for s in t.from_states)
    return sorted(set(out))


def _todo_sql(access: LayerAccess, identity: Identity) -> tuple[str, dict[str, Any]]:
    write = access.module_scope(MODULE, "write")
    if write.empty:
        return "FALSE", {}
    key = "(c.case_type || ':' || c.state)"
    if write.all:
        return f"{key} = ANY(CAST(:wl_city AS text[]))", {"wl_city": _pairs(identity, "city")}
    parts, params = [], {}
    if write.districts:
        parts.append(f"(c.district_code = ANY(CAST(:wl_d AS text[])) AND {key} = ANY(CAST(:wl_dp AS text[])))")
        params.update(wl_d=sorted(write.districts), wl_dp=_pairs(identity, "district"))
    if write.enterprises:
        parts.append(f"(c.enterprise_uscc = ANY(CAST(:wl_u AS text[])) AND {key} = ANY(CAST(:wl_up AS text[])))")
        params.update(wl_u=sorted(write.enterprises), wl_up=_pairs(identity, "enterprise"))
    return "(" + " OR ".join(parts) + ")", params


def _where(list_name: str, access: LayerAccess, identity: Identity, config: Mapping[str, Any]
           ) -> tuple[str, dict[str, Any]]:
    read, params = scope_sql(access.module_scope(MODULE, "read"))
    today = core_clock.today()
    clauses = [read]
    if list_name == "todo":
        todo, p = _todo_sql(access, identity)
        clauses += ["c.closed_at IS NULL", todo]
        params.update(p)
    elif list_name == "done":
        clauses.append("EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.actor = :wl_me)")
        params["wl_me"] = identity.username
    elif list_name == "overdue":
        clauses += ["c.closed_at IS NULL", "(c.overdue OR c.due_date < :wl_today)"]
        params["wl_today"] = today
    elif list_name == "due_soon":
        soon = today + timedelta(days=int(config.get("due_soon_days", 3)))
        clauses += ["c.closed_at IS NULL", "NOT c.overdue", "c.due_date >= :wl_today",
                    "(c.warn_date <= :wl_today OR c.due_date <= :wl_soon)"]
        params.update(wl_today=today, wl_soon=soon)
    return " AND ".join(clauses), params


def counts(conn: Connection, *, access: LayerAccess, identity: Identity, config: Mapping[str, Any]) -> dict[str, int]:
    out = {}
    for name in ("todo", "done", "overdue", "due_soon"):
        where, params = _where(name, access, identity, config)
        out[name] = conn.execute(text(f"SELECT count(*) FROM cases c WHERE {where}"), params).scalar_one()
    return out


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
        f"c.enterprise_uscc, c.due_date, c.warn_date, c.overdue OR c.due_date < :today AS overdue, c.opened_at, "
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
