"""The case engine: opening cases and moving them through the transitions their type declares.

Every move — by a user, by an effect of another case, by a timer — goes through :func:`apply`, inside the
caller's transaction with the case row locked: the form is merged into the case's data, the clocks follow the
new state (:mod:`supervision.cases.clocks`), the effects run, the event is appended to the case's hash chain
(and to the audit log), the case's layer row is rewritten and the live event is queued for after the commit.
Any failure rolls the whole move back: nothing is half-written.

Who may do what. A user's move needs (1) a transition whose ``roles`` include one of theirs, (2) the case inside
their write scope of the ``cases`` module (policy), of a kind the transition accepts (city / district /
enterprise), (3) the case in the transition's ``from`` states (409 otherwise), (4) the form valid against its
schema (400 naming the field) and (5) the guard true (409 with the guard's message). A case outside the caller's
read scope does not exist for them (404).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.errors import Forbidden
from access.policy.rowscope import LayerAccess
from core import clock as core_clock
from core.changes import Changes
from core.docnumbers import DocumentType, issue
from core.errors import Conflict, DomainError, InvalidInput
from core.identity import Identity
from core.realtime import ScopeTag
from core.scope import Scope
from supervision.cases import clocks, forms, registry
from supervision.cases.definitions import CaseType, Effect, Transition
from supervision.cases.expressions import evaluate

MODULE = "cases"
EVENT_TYPES = ("case.opened", "case.transition", "case.clock", "case.notice")
ANCHOR_LAYERS = {"enterprise": "enterprises", "hazard_source": "hazard_sources", "grid_cell": "grid_cells"}
MAX_DEPTH = 4   # effects that open or move other cases, which may have effects of their own


@dataclass
class Mover:
    """Who is moving the case: a signed-in user (with their access) or the engine itself (``identity=None``)."""

    identity: Identity | None
    access: LayerAccess

    @property
    def username(self) -> str | None:
        return self.identity.username if self.identity else None

    @property
    def roles(self) -> list[str]:
        return sorted(self.identity.roles) if self.identity else []


@dataclass
class EffectContext:
    """What an effect sees (and what module-declared effect functions get)."""

    conn: Connection
    case_type: CaseType
    case: dict[str, Any]
    form: dict[str, Any]
    identity: Identity | None
    changes: Changes
    now: datetime
    results: dict[str, Any] = field(default_factory=dict)
    depth: int = 0
    parent: dict[str, Any] | None = None
    config: Mapping[str, Any] = field(default_factory=dict)

    def names(self) -> dict[str, Any]:
        return names_for(self.case, self.form, self.identity, self.parent)

    def evaluate(self, expression: str) -> Any:
        return evaluate(expression, self.names())


def names_for(case: Mapping[str, Any], form: Mapping[str, Any], identity: Identity | None,
              parent: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"data": case.get("data") or {}, "form": form, "case": case, "parent": parent or {},
            "actor": {"username": identity.username if identity else None,
                      "roles": sorted(identity.roles) if identity else ["system"]},
            "today": core_clock.today(), "now": core_clock.now()}


# -- scope --------------------------------------------------------------------------------------------------
def scope_sql(scope: Scope, alias: str = "c", prefix: str = "sc") -> tuple[str, dict[str, Any]]:
    """The predicate limiting cases to ``scope`` (by the case's district and enterprise)."""
    if scope.all:
        return "TRUE", {}
    if scope.empty:
        return "FALSE", {}
    return (f"({alias}.district_code = ANY(CAST(:{prefix}_d AS text[])) OR "
            f"{alias}.enterprise_uscc = ANY(CAST(:{prefix}_u AS text[])))",
            {f"{prefix}_d": sorted(scope.districts), f"{prefix}_u": sorted(scope.enterprises)})


def scope_kinds(scope: Scope, case: Mapping[str, Any]) -> set[str]:
    """Through which kinds of scope the caller reaches ``case``: city, district, enterprise."""
    if scope.all:
        return {"city"}
    kinds = set()
    if case.get("district_code") in scope.districts:
        kinds.add("district")
    if case.get("enterprise_uscc") and case.get("enterprise_uscc") in scope.enterprises:
        kinds.add("enterprise")
    return kinds


def _tag(ct: CaseType, case: Mapping[str, Any]) -> ScopeTag:
    layer = ct.layer or ANCHOR_LAYERS.get(case["anchor_kind"], "grid_cells")
    return ScopeTag(layer, case["district_code"], case.get("enterprise_uscc"))


# -- reading a case row -------------------------------------------------------------------------------------
_COLUMNS = ("c.id, c.code, c.case_type, c.type_version, c.title, c.state, c.anchor_kind, c.anchor_id, "
            "c.district_code, c.enterprise_uscc, c.grid_cell_code, c.parent_id, c.data, c.version, c.due_date, "
            "c.warn_date, c.due_at, c.overdue, c.opened_at, c.opened_by, c.state_entered_at, c.closed_at, c.updated_at, "
            "ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat")


def case_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k, v in out.items():
        if isinstance(v, (datetime, date)):
            out[k] = v.isoformat()
    out["data"] = dict(row["data"] or {})
    return out


def lock(conn: Connection, case_id: int, scope: Scope | None = None) -> dict[str, Any] | None:
    where, params = scope_sql(scope) if scope is not None else ("TRUE", {})
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM cases c WHERE c.id = :id AND {where} FOR UPDATE OF c"),
                       {**params, "id": case_id}).mappings().first()
    return None if row is None else case_dict(row)


def parent_of(conn: Connection, case: Mapping[str, Any]) -> dict[str, Any] | None:
    if not case.get("parent_id"):
        return None
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM cases c WHERE c.id = :id"), {"id": case["parent_id"]}
                       ).mappings().first()
    return None if row is None else case_dict(row)


# -- checks of a user's move --------------------------------------------------------------------------------
def check_user_move(conn: Connection, ct: CaseType, t: Transition, case: Mapping[str, Any], mover: Mover, *,
                    form: Any, expected_version: Any = None, parent: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Raise the right refusal for a user's move, or return the validated form."""
    roles = mover.identity.roles if mover.identity else frozenset()
    if t.system:
        raise Forbidden(f"'{t.id}' is taken by the system only (a deadline or another case), not by a user",
                        f"“{t.label['zh-CN']}”由系统自动办理，不能手工操作",
                        details={"action": t.id, "case_type": ct.id})
    if not roles & t.roles:
        raise mover.access.refuse(
            f"case:{case.get('id') or ct.id}", "write", reason=f"role may not take {ct.id}.{t.id}",
            message_en=f"your role may not '{t.id}' a {ct.id} case (allowed: {', '.join(sorted(t.roles))})",
            message_zh=f"您的角色无权办理“{t.label['zh-CN']}”",
            details={"action": t.id, "roles_allowed": sorted(t.roles)})
    write = mover.access.module_scope(MODULE, "write")
    kinds = scope_kinds(write, case)
    if not kinds & t.scope:
        raise mover.access.refuse(
            f"case:{case.get('id') or ct.id}", "write", reason=f"case outside the write scope ({write.describe()})",
            message_en=f"this case (district {case.get('district_code')}) is outside your data scope "
                       f"({write.describe()}) for '{t.id}'",
            message_zh=f"该案件（区县 {case.get('district_code')}）不在您“{t.label['zh-CN']}”的数据范围内",
            details={"action": t.id, "district_code": case.get("district_code"), "scope": write.describe()})
    if expected_version is not None:
        if isinstance(expected_version, bool) or not isinstance(expected_version, int):
            raise InvalidInput("version", "the case's version number (an integer) from its last reading",
                               value=expected_version)
        if case.get("version") is not None and expected_version != case["version"]:
            raise Conflict(f"the case has changed since you read it (version {expected_version}, now "
                           f"{case['version']}): reload it and try again",
                           f"案件已被他人更新（您看到的版本 {expected_version}，当前版本 {case['version']}），请刷新后重试",
                           details={"version": case["version"], "expected": expected_version}, code="stale_version")
    if not t.opening and case["state"] not in t.from_states:
        allowed = [x.id for x in ct.leaving(case["state"]) if not x.system]
        raise Conflict(f"'{t.id}' cannot be taken in state {case['state']}; possible now: "
                       f"{', '.join(allowed) or 'nothing (final state)'}",
                       f"案件当前状态为“{ct.states[case['state']].label['zh-CN']}”，不能办理“{t.label['zh-CN']}”",
                       details={"state": case["state"], "action": t.id, "allowed": allowed},
                       code="invalid_transition")
    checked = forms.validate(conn, t.form, form)
    if t.guard:
        names = names_for(case, checked, mover.identity, parent)
        try:
            ok = bool(evaluate(t.guard, names))
        except Exception as exc:  # noqa: BLE001 - a guard that cannot be evaluated refuses, it never passes
            raise Conflict(f"the condition of '{t.id}' cannot be checked: {exc}",
                           f"“{t.label['zh-CN']}”的办理条件无法判断", code="guard_failed") from None
        if not ok:
            msg = t.guard_message or {"zh-CN": "不满足办理条件", "en": "the condition of this action is not met"}
            raise Conflict(f"'{t.id}' refused: {msg['en']}", f"不能办理“{t.label['zh-CN']}”：{msg['zh-CN']}",
                           details={"action": t.id, "guard": t.guard}, code="guard_failed")
    return checked


# -- the move itself ----------------------------------------------------------------------------------------
def apply(ctx: EffectContext, t: Transition, *, event_action: str | None = None) -> dict[str, Any]:
    """Move ``ctx.case`` by ``t`` (checks already done): data, state, clocks, effects, event, layer row."""
    conn, ct, case = ctx.conn, ctx.case_type, ctx.case
    from_state = None if t.opening else case["state"]
    case["data"] = {**case["data"], **ctx.form}
    changed_state = from_state != t.to
    case["state"] = t.to
    if ct.states[t.to].final and not case.get("closed_at"):
        case["closed_at"] = ctx.now.isoformat()
    conn.execute(text(
        "UPDATE cases SET state = :s, state_entered_at = CASE WHEN :changed THEN :now ELSE state_entered_at END, "
        "closed_at = CAST(:closed AS timestamptz), updated_at = :now WHERE id = :id"),
        {"s": t.to, "changed": changed_state, "now": ctx.now, "closed": case.get("closed_at"), "id": case["id"]})
    ctx.results["clocks"] = clocks.on_state_change(conn, ct, case["id"], from_state, t.to, ctx.names())
    run_effects(ctx, t.effects)
    finish(ctx, event_action or t.id, from_state, t.to)
    return case


def finish(ctx: EffectContext, action: str, from_state: str | None, to_state: str | None) -> None:
    """Write the data, deadlines, version, event, audit record and layer row of a move; queue its live event."""
    conn, case = ctx.conn, ctx.case
    due, warn, breached, due_at = clocks.summarise_instants(conn, case["id"])
    case.update(due_date=due and due.isoformat(), warn_date=warn and warn.isoformat(), overdue=breached,
                due_at=due_at and due_at.isoformat())
    title = str(case["data"].get("title") or case.get("title") or ctx.case_type.title["zh-CN"])[:200]
    case["title"] = title
    case["version"] = conn.execute(text(
        "UPDATE cases SET data = CAST(:data AS jsonb), title = :title, due_date = :due, warn_date = :warn, "
        "due_at = :due_at, overdue = :overdue, version = version + 1, updated_at = :now WHERE id = :id "
        "RETURNING version"),
        {"data": _json(case["data"]), "title": title, "due": due, "warn": warn, "due_at": due_at, "overdue": breached,
         "now": ctx.now, "id": case["id"]}).scalar_one()
    event = conn.execute(text(
        "INSERT INTO case_events (case_id, action, from_state, to_state, actor, actor_roles, at, form, results, "
        "prev_hash, hash) VALUES (:id, :a, :f, :t, :actor, CAST(:roles AS jsonb), :at, CAST(:form AS jsonb), "
        "CAST(:results AS jsonb), '', '') RETURNING id, seq, hash"),
        {"id": case["id"], "a": action, "f": from_state, "t": to_state,
         "actor": ctx.identity.username if ctx.identity else None,
         "roles": _json(sorted(ctx.identity.roles) if ctx.identity else []), "at": ctx.now,
         "form": _json(ctx.form), "results": _json(ctx.results)}).one()
    from supervision.cases import files

    files.link(conn, ctx.case_type, event.id, case["id"], ctx.form, action)
    from access.audit import record

    record(conn=conn, action=f"case.{action}", identity=ctx.identity, environ=None if ctx.identity else {},
           object_type="case", object_id=case["id"],
           details={"case_type": ctx.case_type.id, "code": case["code"], "seq": event.seq, "hash": event.hash,
                    "from": from_state, "to": to_state})
    project(ctx)
    kind = "case.clock" if action.startswith("clock.") else (
        "case.opened" if from_state is None else "case.transition")
    ctx.changes.announce(kind, {"id": case["id"], "code": case["code"], "case_type": ctx.case_type.id,
                                "action": action, "from_state": from_state, "to_state": to_state,
                                "state": case["state"], "seq": event.seq, "overdue": breached},
                         scope=_tag(ctx.case_type, case))


def project(ctx: EffectContext) -> None:
    """Rewrite the case's row in its type's registry layer (the case on the map and in the OGC services)."""
    ct, case = ctx.case_type, ctx.case
    if not ct.layer:
        return
    from layers.registry import default_registry

    layer = default_registry().get(ct.layer)
    names = set(layer.field_names)
    values: dict[str, Any] = {"case_id": case["id"], "code": case["code"], "state": case["state"],
                              "overdue": bool(case["overdue"]), "due_date": case["due_date"],
                              "district_code": case["district_code"], "enterprise_uscc": case["enterprise_uscc"],
                              "grid_cell_code": case["grid_cell_code"]}
    values = {k: v for k, v in values.items() if k in names}
    expr_names = ctx.names()
    for column, expression in ct.layer_fields.items():
        values[column] = evaluate(expression, expr_names)
    columns = list(values)
    sql = (f'INSERT INTO "{layer.table}" ({", ".join(columns)}, geom) VALUES '
           f'({", ".join(":" + c for c in columns)}, (SELECT geom FROM cases WHERE id = :case_id)) '
           f'ON CONFLICT (case_id) DO UPDATE SET '
           + ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "case_id") + ", geom = EXCLUDED.geom")
    ctx.conn.execute(text(sql), values)


# -- effects ------------------------------------------------------------------------------------------------
def run_effects(ctx: EffectContext, effects: tuple[Effect, ...]) -> None:
    custom = registry.effect_functions()
    for effect in effects:
        spec = effect.spec
        if isinstance(spec, dict) and "when" in spec and not evaluate(str(spec["when"]), ctx.names()):
            continue
        if effect.kind in custom:
            custom[effect.kind](ctx, spec)
        else:
            BUILTIN[effect.kind](ctx, spec)


def _set(ctx: EffectContext, spec: Mapping[str, Any]) -> None:
    names = ctx.names()
    values = {k: evaluate(str(v), names) for k, v in spec.items() if k != "when"}
    ctx.case["data"] = {**ctx.case["data"], **values}


def _issue_number(ctx: EffectContext, spec: str) -> None:
    doc = ctx.case_type.documents[spec]
    unit = ctx.evaluate(doc.unit) if doc.unit else ctx.config.get("issuing_unit", "示应急")
    issued = issue(ctx.conn, doc.doc_type, str(unit), core_clock.today(), subject=f"case:{ctx.case['id']}")
    documents = dict(ctx.case["data"].get("documents") or {})
    documents[spec] = issued.number
    ctx.case["data"] = {**ctx.case["data"], "documents": documents}
    ctx.results.setdefault("documents", []).append({"document": spec, "number": issued.number})


def _open_case(ctx: EffectContext, spec: Mapping[str, Any]) -> None:
    child_type = registry.get(spec["type"])
    names = ctx.names()
    data = {k: evaluate(str(v), names) for k, v in (spec.get("data") or {}).items()}
    child = open_child(ctx, child_type, spec.get("action"), data)
    ctx.results.setdefault("opened", []).append({"id": child["id"], "code": child["code"], "case_type": child_type.id})


def _act_on_children(ctx: EffectContext, spec: Mapping[str, Any]) -> None:
    rows = ctx.conn.execute(text("SELECT id FROM cases WHERE parent_id = :p AND case_type = :t AND closed_at IS NULL "
                                 "ORDER BY id"), {"p": ctx.case["id"], "t": spec["type"]}).scalars().all()
    for child_id in rows:
        child = lock(ctx.conn, child_id)
        child_type = registry.pinned(ctx.conn, child["case_type"], child["type_version"])
        t = child_type.transition(spec["action"])
        if t is None or child["state"] not in t.from_states:
            continue
        sub = _child_context(ctx, child_type, child)
        apply(sub, t)
        ctx.results.setdefault("children", []).append({"id": child_id, "action": t.id, "to": t.to})


def _notify(ctx: EffectContext, spec: Mapping[str, Any]) -> None:
    ctx.changes.announce("case.notice", {"id": ctx.case["id"], "code": ctx.case["code"],
                                         "case_type": ctx.case_type.id, "roles": list(spec.get("roles") or []),
                                         "message": dict(spec["message"])}, scope=_tag(ctx.case_type, ctx.case))
    ctx.results.setdefault("notified", []).append({"roles": list(spec.get("roles") or []),
                                                   "message": spec["message"]["zh-CN"]})


def _update_feature(ctx: EffectContext, spec: Mapping[str, Any]) -> None:
    layer_id = ANCHOR_LAYERS.get(ctx.case["anchor_kind"])
    if layer_id is None or not ctx.case.get("anchor_id"):
        return
    from layers.registry import default_registry

    layer = default_registry().get(layer_id)
    values = {k: ctx.evaluate(str(v)) for k, v in spec["fields"].items()}
    unknown = [k for k in values if k not in layer.field_names]
    if unknown:
        raise DomainError(f"case type {ctx.case_type.id}: layer {layer_id} has no field {unknown[0]}",
                          f"案件类型 {ctx.case_type.id} 配置错误：图层 {layer_id} 没有字段 {unknown[0]}")
    key = "uscc" if layer_id == "enterprises" else "code"
    sets = ", ".join(f'"{k}" = :v_{k}' for k in values)
    ctx.conn.execute(text(f'UPDATE "{layer.table}" SET {sets} WHERE "{key}" = :anchor'),
                     {**{f"v_{k}": v for k, v in values.items()}, "anchor": ctx.case["anchor_id"]})
    ctx.results.setdefault("feature", {}).update(values)


def _extend_clock(ctx: EffectContext, spec: Mapping[str, Any]) -> None:
    ctx.results.setdefault("clocks", []).append(
        clocks.extend(ctx.conn, ctx.case_type, ctx.case["id"], spec["clock"], int(spec["days"]), ctx.names()))


BUILTIN = {"set": _set, "issue_number": _issue_number, "open_case": _open_case, "act_on_children": _act_on_children,
           "notify": _notify, "update_feature": _update_feature, "extend_clock": _extend_clock}


def _child_context(ctx: EffectContext, ct: CaseType, case: dict[str, Any]) -> EffectContext:
    if ctx.depth >= MAX_DEPTH:
        raise DomainError(f"case effects nest deeper than {MAX_DEPTH} levels (case type {ct.id})",
                          f"案件联动层级超过 {MAX_DEPTH} 层")
    return EffectContext(ctx.conn, ct, case, {}, None, ctx.changes, ctx.now, depth=ctx.depth + 1,
                         parent=parent_of(ctx.conn, case), config=ctx.config)


def open_child(ctx: EffectContext, ct: CaseType, action: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """A case opened by an effect: same anchor and place as its parent, run by the system."""
    openings = [t for t in ct.openings() if action in (None, t.id)]
    if not openings:
        raise DomainError(f"case type {ct.id} has no opening transition {action!r}",
                          f"案件类型 {ct.id} 没有发起环节 {action!r}")
    parent = ctx.case
    case = insert_case(ctx.conn, ct, anchor_kind=parent["anchor_kind"], anchor_id=parent["anchor_id"],
                       geom_from_case=parent["id"], district_code=parent["district_code"],
                       enterprise_uscc=parent["enterprise_uscc"], grid_cell_code=parent["grid_cell_code"],
                       parent_id=parent["id"], opened_by=None, now=ctx.now, state=openings[0].to, data=data)
    sub = _child_context(ctx, ct, case)
    sub.parent = parent
    return apply(sub, openings[0])


def insert_case(conn: Connection, ct: CaseType, *, anchor_kind: str, anchor_id: str | None, district_code: str,
                enterprise_uscc: str | None, grid_cell_code: str | None, parent_id: int | None,
                opened_by: str | None, now: datetime, state: str, data: dict[str, Any],
                geom_from_case: int | None = None, lon: float | None = None, lat: float | None = None
                ) -> dict[str, Any]:
    registry.record_versions(conn)
    code = issue(conn, DocumentType(f"case.{ct.id}", "{unit}-{year}-{seq:06d}"), ct.code_prefix,
                 core_clock.today()).number
    geom = ("(SELECT geom FROM cases WHERE id = :src)" if geom_from_case is not None
            else "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)")
    row = conn.execute(text(
        f"INSERT INTO cases (code, case_type, type_version, title, state, anchor_kind, anchor_id, geom, "
        f"district_code, enterprise_uscc, grid_cell_code, parent_id, data, opened_at, opened_by, "
        f"state_entered_at, updated_at) VALUES (:code, :t, :v, :title, :s, :ak, :aid, {geom}, :d, :u, :g, :p, "
        f"CAST(:data AS jsonb), :now, :by, :now, :now) RETURNING id"),
        {"code": code, "t": ct.id, "v": ct.version, "title": ct.title["zh-CN"], "s": state, "ak": anchor_kind,
         "aid": anchor_id, "src": geom_from_case, "lon": lon, "lat": lat, "d": district_code, "u": enterprise_uscc,
         "g": grid_cell_code, "p": parent_id, "data": _json(data), "now": now, "by": opened_by}).one()
    return lock(conn, row.id)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


__all__ = ["EVENT_TYPES", "MODULE", "EffectContext", "Forbidden", "Mover", "apply", "check_user_move", "finish",
           "insert_case", "lock", "names_for", "open_child", "scope_kinds", "scope_sql"]
