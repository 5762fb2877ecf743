"""Cases as the API offers them: open, move, read, timeline, chain check (no Flask here)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock as core_clock
from core.changes import unit_of_work
from core.errors import Conflict, InvalidInput, NotFound
from core.geo.points import district_of, parse_crs, to_storage
from core.identity import Identity
from supervision.cases import engine, registry
from supervision.cases.definitions import CaseType, Transition
from supervision.cases.engine import EVENT_TYPES, MODULE, EffectContext, Mover, scope_sql

ANCHOR_SQL = {
    "enterprise": ("enterprises", "uscc", "SELECT e.uscc AS anchor_id, e.name, e.district_code, e.uscc AS enterprise_uscc, "
                   "e.grid_cell_code, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat FROM enterprises e WHERE e.uscc = :id",
                   "e"),
    "hazard_source": ("hazard_sources", "code", "SELECT h.code AS anchor_id, h.name, h.district_code, "
                      "h.enterprise_uscc, (SELECT g.code FROM grid_cells g WHERE ST_Intersects(g.geom, h.geom) "
                      "ORDER BY g.code LIMIT 1) AS grid_cell_code, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat "
                      "FROM hazard_sources h WHERE h.code = :id", "h"),
    "grid_cell": ("grid_cells", "code", "SELECT g.code AS anchor_id, g.name, g.district_code, NULL AS enterprise_uscc, "
                  "g.code AS grid_cell_code, ST_X(ST_PointOnSurface(g.geom)) AS lon, "
                  "ST_Y(ST_PointOnSurface(g.geom)) AS lat FROM grid_cells g WHERE g.code = :id", "g"),
}

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def not_found(case_id: Any) -> NotFound:
    return NotFound(f"no case with id {case_id}", f"不存在编号为 {case_id} 的案件", details={"id": case_id})


def read_scope(access: LayerAccess):  # noqa: ANN201 - core.scope.Scope
    return access.module_scope(MODULE, "read")


def _mover(access: LayerAccess, identity: Identity) -> Mover:
    return Mover(identity, access)


def _context(conn: Connection, ct: CaseType, case: dict[str, Any], form: dict[str, Any], identity: Identity | None,
             changes: Any, config: Mapping[str, Any]) -> EffectContext:
    return EffectContext(conn, ct, case, form, identity, changes, core_clock.now(),
                         parent=engine.parent_of(conn, case), config=config)


# -- opening ------------------------------------------------------------------------------------------------
def resolve_anchor(conn: Connection, ct: CaseType, anchor: Any, access: LayerAccess) -> dict[str, Any]:
    """Where the case is and whose it is, from the feature it is anchored to (read within the caller's scope)."""
    if not isinstance(anchor, dict):
        raise InvalidInput("anchor", "an object {kind, id} or {kind: point, lon, lat, crs?}", value=anchor)
    kind = anchor.get("kind")
    if kind not in ct.anchor:
        raise InvalidInput("anchor.kind", "one of " + ", ".join(ct.anchor), value=kind)
    if kind == "point":
        crs = parse_crs(anchor.get("crs"), "anchor.crs")
        if "lon" not in anchor or "lat" not in anchor:
            raise InvalidInput("anchor.lon" if "lon" not in anchor else "anchor.lat",
                               "lon and lat of the place (with crs when not CGCS2000)", details={"reason": "required"})
        lon, lat = to_storage(anchor["lon"], anchor["lat"], crs, ("anchor.lon", "anchor.lat"))
        district = district_of(conn, lon, lat, "anchor")
        grid = conn.execute(text("SELECT code FROM grid_cells WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint("
                                 ":x, :y), 4490)) ORDER BY code LIMIT 1"), {"x": lon, "y": lat}).scalar()
        uscc = anchor.get("enterprise_uscc")
        if uscc is not None:
            where, params = access.where("enterprises", alias="e")
            if conn.execute(text(f"SELECT 1 FROM enterprises e WHERE e.uscc = :u AND {where}"),
                            {**params, "u": uscc}).first() is None:
                raise InvalidInput("anchor.enterprise_uscc", "the USCC of an enterprise you may see", value=uscc,
                                   details={"reason": "not found"})
        return {"anchor_kind": "point", "anchor_id": None, "name": None, "district_code": district,
                "enterprise_uscc": uscc, "grid_cell_code": grid, "lon": lon, "lat": lat}
    layer_id, key, sql, alias = ANCHOR_SQL[kind]
    value = anchor.get("id")
    if not isinstance(value, str) or not value:
        raise InvalidInput("anchor.id", f"the {key} of a feature of {layer_id}", value=value)
    where, params = access.where(layer_id, alias=alias)
    row = conn.execute(text(f"{sql} AND {where}"), {**params, "id": value}).mappings().first()
    if row is None:
        raise InvalidInput("anchor.id", f"the {key} of a feature of {layer_id} you may see", value=value,
                           details={"reason": "not found"})
    return {"anchor_kind": kind, **row}


def open_case(conn: Connection, body: Any, *, access: LayerAccess, identity: Identity,
              config: Mapping[str, Any], answer: bool = True) -> dict[str, Any]:
    """Open a case; returns its detail (or, with ``answer=False``, just ``{"id": ...}``: bulk loaders)."""
    with unit_of_work(conn, EVENT_TYPES) as changes:
        case_id = _open(conn, changes, body, access=access, identity=identity, config=config)
    return detail(conn, case_id, access=access, identity=identity) if answer else {"id": case_id}


def open_case_once(conn: Connection, body: Any, key: str, *, access: LayerAccess, identity: Identity,
                   config: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Open a case at most once per ``Idempotency-Key`` of the caller: (its detail, whether it was a replay).

    The key is claimed in the transaction that opens the case, so a submission that fails leaves neither case nor
    key (it may be sent again), and a second submission racing the first waits for it and then replays its case.
    The same key with another body is refused (409): it would silently drop the second application."""
    if not IDEMPOTENCY_KEY.fullmatch(key or ""):
        raise InvalidInput("Idempotency-Key", "1–200 visible ASCII characters (a UUID, say)", value=key[:200],
                           details={"reason": "invalid"})
    digest = hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                            .encode("utf-8")).hexdigest()
    with unit_of_work(conn, EVENT_TYPES) as changes:
        claimed = conn.execute(text(
            "INSERT INTO case_idempotency_keys (username, key, request_hash) VALUES (:u, :k, :h) "
            "ON CONFLICT DO NOTHING RETURNING 1"), {"u": identity.username, "k": key, "h": digest}).first()
        if claimed is None:
            row = conn.execute(text("SELECT request_hash, case_id FROM case_idempotency_keys WHERE username = :u "
                                    "AND key = :k"), {"u": identity.username, "k": key}).one()
            if row.request_hash != digest:
                raise Conflict("this Idempotency-Key was already used for a different request",
                               "该幂等键（Idempotency-Key）已用于另一份不同的申请",
                               details={"header": "Idempotency-Key"}, code="idempotency_key_reused")
            case_id, replayed = row.case_id, True
        else:
            case_id = _open(conn, changes, body, access=access, identity=identity, config=config)
            conn.execute(text("UPDATE case_idempotency_keys SET case_id = :c WHERE username = :u AND key = :k"),
                         {"c": case_id, "u": identity.username, "k": key})
            replayed = False
    return detail(conn, case_id, access=access, identity=identity), replayed


def _open(conn: Connection, changes: Any, body: Any, *, access: LayerAccess, identity: Identity,
          config: Mapping[str, Any]) -> int:
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object {case_type, action?, anchor, form}")
    ct = registry.get(body.get("case_type"))
    openings = [t for t in ct.openings() if not t.system]
    action = body.get("action")
    t = next((x for x in openings if x.id == action), None) if action is not None else (
        openings[0] if len(openings) == 1 else None)
    if t is None:
        raise InvalidInput("action", "one of " + (", ".join(x.id for x in openings) or "none (opened by the system)"),
                           value=action)
    place = resolve_anchor(conn, ct, body.get("anchor"), access)
    probe = {"id": None, "state": None, "district_code": place["district_code"],
             "enterprise_uscc": place["enterprise_uscc"], "data": {}, "version": None}
    form = engine.check_user_move(conn, ct, t, probe, _mover(access, identity), form=body.get("form"))
    case = engine.insert_case(conn, ct, anchor_kind=place["anchor_kind"], anchor_id=place["anchor_id"],
                              district_code=place["district_code"], enterprise_uscc=place["enterprise_uscc"],
                              grid_cell_code=place["grid_cell_code"], parent_id=None,
                              opened_by=identity.username, now=core_clock.now(), state=t.to, data={},
                              lon=place["lon"], lat=place["lat"])
    engine.apply(_context(conn, ct, case, form, identity, changes, config), t)
    return case["id"]


# -- moving -------------------------------------------------------------------------------------------------
def transition(conn: Connection, case_id: int, body: Any, *, access: LayerAccess, identity: Identity,
               config: Mapping[str, Any], answer: bool = True) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object {action, version?, form}")
    with unit_of_work(conn, EVENT_TYPES) as changes:
        case = engine.lock(conn, case_id, read_scope(access))
        if case is None:
            access.note_hidden(conn, "cases", case_id, action="write", table="cases", target=f"case:{case_id}")
            raise not_found(case_id)
        ct = registry.pinned(conn, case["case_type"], case["type_version"])
        action = body.get("action")
        t = ct.transition(action) if isinstance(action, str) else None
        if t is None or t.opening:
            raise InvalidInput("action", "one of " + ", ".join(x.id for x in ct.transitions if not x.opening),
                               value=action)
        ctx = _context(conn, ct, case, {}, identity, changes, config)
        ctx.form = engine.check_user_move(conn, ct, t, case, _mover(access, identity), form=body.get("form"),
                                          expected_version=body.get("version"), parent=ctx.parent)
        engine.apply(ctx, t)
    if answer and not engine.scope_kinds(read_scope(access), ctx.case):
        # the move itself took the case out of the caller's scope (a district returning a complaint to the city):
        # done, and there is nothing more the caller may read of it
        return {"id": case_id, "code": ctx.case["code"], "case_type": ct.id, "state": ctx.case["state"],
                "version": ctx.case["version"], "out_of_scope": True}
    return detail(conn, case_id, access=access, identity=identity) if answer else {"id": case_id}


# -- reading ------------------------------------------------------------------------------------------------
def _row(conn: Connection, case_id: int, access: LayerAccess) -> dict[str, Any]:
    where, params = scope_sql(read_scope(access))
    row = conn.execute(text(f"SELECT {engine._COLUMNS} FROM cases c WHERE c.id = :id AND {where}"),  # noqa: SLF001
                       {**params, "id": case_id}).mappings().first()
    if row is None:
        access.note_hidden(conn, "cases", case_id, table="cases", target=f"case:{case_id}")
        raise not_found(case_id)
    return engine.case_dict(row)


def available_actions(ct: CaseType, case: Mapping[str, Any], access: LayerAccess, identity: Identity
                      ) -> list[Transition]:
    """What the caller could take now (roles, scope kind and state; guards are checked on submission)."""
    write = access.module_scope(MODULE, "write")
    kinds = engine.scope_kinds(write, case)
    return [t for t in ct.leaving(case["state"])
            if not t.system and identity.roles & t.roles and kinds & t.scope]


def action_json(t: Transition) -> dict[str, Any]:
    return {"id": t.id, "label": dict(t.label), "to": t.to, "form": t.form}


def detail(conn: Connection, case_id: int, *, access: LayerAccess, identity: Identity) -> dict[str, Any]:
    case = _row(conn, case_id, access)
    ct = registry.pinned(conn, case["case_type"], case["type_version"])
    today, now = core_clock.today(), core_clock.now()
    clocks = []
    for r in conn.execute(text("SELECT * FROM case_clocks WHERE case_id = :id ORDER BY started_on, clock"),
                          {"id": case_id}).mappings():
        c = ct.clocks.get(r["clock"])
        clocks.append({"clock": r["clock"], "label": dict(c.label) if c else {"zh-CN": r["clock"], "en": r["clock"]},
                       "status": r["status"], "started_on": r["started_on"].isoformat(),
                       "due_date": r["due_date"] and r["due_date"].isoformat(),
                       "warn_date": r["warn_date"] and r["warn_date"].isoformat(), "provisional": r["provisional"],
                       "overdue": r["status"] == "breached" or (r["status"] == "running" and r["due_date"] is not None
                                                                and r["due_date"] < today),
                       "due_soon": r["status"] == "running" and r["warn_date"] is not None
                       and r["warn_date"] <= today <= r["due_date"]})
        if r["due_at"] is not None:   # an elapsed-time clock: due at an instant, not at the end of a day
            clocks[-1].update(
                due_at=r["due_at"].isoformat(), warn_at=r["warn_at"] and r["warn_at"].isoformat(),
                started_at=r["started_at"] and r["started_at"].isoformat(),
                overdue=r["status"] == "breached" or (r["status"] == "running" and r["due_at"] <= now),
                due_soon=r["status"] == "running" and r["warn_at"] is not None and r["warn_at"] <= now < r["due_at"])
    where, params = scope_sql(read_scope(access))
    children = [dict(r) for r in conn.execute(text(
        f"SELECT c.id, c.code, c.case_type, c.state, c.title FROM cases c WHERE c.parent_id = :id AND {where} "
        f"ORDER BY c.id"), {**params, "id": case_id}).mappings()]
    parent = None
    if case["parent_id"]:
        parent = conn.execute(text(f"SELECT c.id, c.code, c.case_type, c.state, c.title FROM cases c "
                                   f"WHERE c.id = :id AND {where}"), {**params, "id": case["parent_id"]}
                              ).mappings().first()
    documents = [{"document": k, "title": dict(ct.documents[k].title) if k in ct.documents else {"zh-CN": k, "en": k},
                  "number": v} for k, v in (case["data"].get("documents") or {}).items()]
    files = [dict(r) for r in conn.execute(text(
        "SELECT l.sha256, l.field, f.size, f.media_type, e.seq FROM case_event_files l JOIN case_files f "
        "ON f.sha256 = l.sha256 JOIN case_events e ON e.id = l.event_id WHERE l.case_id = :id ORDER BY e.seq"),
        {"id": case_id}).mappings()]
    name = None
    if case["anchor_kind"] in ANCHOR_SQL and case["anchor_id"]:
        layer_id, _key, sql, _alias = ANCHOR_SQL[case["anchor_kind"]]
        found = conn.execute(text(sql), {"id": case["anchor_id"]}).mappings().first()
        name = found["name"] if found else None
    state = ct.states.get(case["state"])
    return {**case, "lon": round(case["lon"], 7), "lat": round(case["lat"], 7),
            "type_title": dict(ct.title), "state_label": dict(state.label) if state else None,
            "final": bool(state and state.final),
            "anchor": {"kind": case["anchor_kind"], "id": case["anchor_id"], "name": name,
                       "layer": ANCHOR_SQL.get(case["anchor_kind"], (ct.layer,))[0]},
            "layer": ct.layer, "clocks": clocks, "parent": dict(parent) if parent else None, "children": children,
            "documents": documents, "files": files,
            "actions": [action_json(t) for t in available_actions(ct, case, access, identity)]}


def events(conn: Connection, case_id: int, *, access: LayerAccess) -> list[dict[str, Any]]:
    case = _row(conn, case_id, access)
    ct = registry.pinned(conn, case["case_type"], case["type_version"])
    labels = {t.id: dict(t.label) for t in ct.transitions}
    labels.update({"clock.warn": {"zh-CN": "临期预警", "en": "Deadline warning"},
                   "clock.breach": {"zh-CN": "逾期", "en": "Deadline passed"}})
    out = []
    for r in conn.execute(text("SELECT e.*, (SELECT coalesce(json_agg(json_build_object('sha256', l.sha256, "
                               "'field', l.field)), '[]') FROM case_event_files l WHERE l.event_id = e.id) AS files "
                               "FROM case_events e WHERE e.case_id = :id ORDER BY e.seq"), {"id": case_id}).mappings():
        out.append({"seq": r["seq"], "action": r["action"], "label": labels.get(r["action"]),
                    "from_state": r["from_state"], "to_state": r["to_state"], "actor": r["actor"],
                    "actor_roles": r["actor_roles"], "at": r["at"].isoformat(), "form": r["form"],
                    "results": r["results"], "files": r["files"], "hash": r["hash"]})
    return out


def verify_chain(conn: Connection, case_id: int, *, access: LayerAccess) -> dict[str, Any]:
    """Recompute the case's hash chain from the stored events and compare with the audit log's copies."""
    _row(conn, case_id, access)
    prev = "0" * 64
    rows = conn.execute(text("SELECT e.seq, e.prev_hash, e.hash, case_event_canonical(e) AS canonical "
                             "FROM case_events e WHERE e.case_id = :id ORDER BY e.seq"), {"id": case_id}).all()
    audited = {int(r.seq): r.hash for r in conn.execute(text(
        "SELECT (details->>'seq') AS seq, details->>'hash' AS hash FROM audit.audit_log "
        "WHERE object_type = 'case' AND object_id = :id AND action LIKE 'case.%' AND details ? 'seq'"),
        {"id": str(case_id)})}   # (refusals about the case are on the record too, without an event)
    for expected_seq, r in enumerate(rows, start=1):
        problem = None
        if r.seq != expected_seq:
            problem = f"event {expected_seq} is missing"
        elif r.prev_hash != prev:
            problem = "prev_hash does not match the previous event's hash"
        elif hashlib.sha256((prev + r.canonical).encode("utf-8")).hexdigest() != r.hash:
            problem = "content does not match its hash (the event was altered)"
        elif audited.get(r.seq) != r.hash:
            problem = "the audit log holds a different hash for this event"
        if problem:
            return {"ok": False, "events": len(rows), "broken_seq": r.seq, "reason": problem}
        prev = r.hash
    return {"ok": True, "events": len(rows), "head_hash": prev}


def types_for(identity: Identity, access: LayerAccess) -> list[dict[str, Any]]:
    out = []
    for ct in registry.case_types().values():
        starts = [action_json(t) for t in ct.openings() if not t.system and identity.roles & t.roles]
        out.append({"id": ct.id, "title": dict(ct.title), "anchor": list(ct.anchor), "layer": ct.layer,
                    "states": {s.id: {"label": dict(s.label), "final": s.final} for s in ct.states.values()},
                    "start_actions": starts, "console_start": ct.console_start})
    return out


def type_definition(case_type: str) -> dict[str, Any]:
    ct = registry.get(case_type)
    return {"id": ct.id, "version": ct.version, "source": ct.source, "definition": ct.document}


__all__ = ["detail", "events", "open_case", "open_case_once", "resolve_anchor", "transition", "type_definition", "types_for",
           "verify_chain"]
