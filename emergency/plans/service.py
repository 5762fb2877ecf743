"""Emergency plans: create, revise (each edit a new version), read, list, and the three-yearly review deadline.

Data scope (the ``emergency_plans`` family of the policy, ``emergency/policy.yaml``): a city-wide caller reads and
changes every plan; a district-scoped caller reads the city's plans and the plans of its district(s) (district and
enterprise plans) and changes the latter; an enterprise user reads and changes its own enterprise's plans only. A
plan outside the read scope is a 404 (an audited probe); one the caller may read but not change, or a new plan
outside the write scope, is a 403 naming the owner and the scope.

Review: 《生产安全事故应急预案管理办法》（应急管理部令第2号）第三十五条 requires the listed units (危险化学品 among
them) to evaluate their plans every three years; ``review_due`` is the approval date plus three years (29 February
→ 28 February) and a revision with a new ``approved_on`` moves it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock
from core.errors import InvalidInput, NotFound
from core.params import int_arg
from core.scope import Scope
from emergency.models import PLAN_KINDS, PLAN_OWNERS, resource_layers
from emergency.plans import schema
from layers.registry import default_registry

MODULE = "emergency_plans"
TABLE = "emergency_plans"
REVIEW_YEARS = 3
DUE_SOON_DAYS = 90
OWNER_LABELS = {"city": "市级", "district": "区县级", "enterprise": "企业"}
_COLUMNS = ("p.id, p.kind, p.owner_level, p.district_code, p.enterprise_uscc, p.title, p.version, p.approved_on, "
            "p.review_due, p.created_at, p.updated_at")
LIST_ARGS = ("kind", "owner_level", "district_code", "enterprise_uscc", "review", "limit", "offset")
REVIEW_FILTERS = ("overdue", "due_soon")


def review_due(approved_on: date) -> date:
    try:
        return approved_on.replace(year=approved_on.year + REVIEW_YEARS)
    except ValueError:  # 29 February → 28 February
        return approved_on.replace(year=approved_on.year + REVIEW_YEARS, day=28)


def review_status(due: date, today: date | None = None) -> str:
    today = today or clock.today()
    if due < today:
        return "overdue"
    return "due_soon" if due <= today + timedelta(days=DUE_SOON_DAYS) else "ok"


def read_sql(scope: Scope, alias: str = "p") -> tuple[str, dict[str, Any]]:
    """The predicate of plans inside a read ``scope`` (a district scope includes the city's plans)."""
    if scope.all:
        return "TRUE", {}
    if scope.empty:
        return "FALSE", {}
    city = f"{alias}.owner_level = 'city' OR " if scope.districts else ""
    return (f"({city}{alias}.district_code = ANY(CAST(:pl_d AS text[])) OR "
            f"{alias}.enterprise_uscc = ANY(CAST(:pl_u AS text[])))",
            {"pl_d": sorted(scope.districts), "pl_u": sorted(scope.enterprises)})


def writable(scope: Scope, row: Mapping[str, Any]) -> bool:
    if scope.all:
        return True
    if row["owner_level"] == "city":
        return False
    return row["district_code"] in scope.districts or (row["enterprise_uscc"] or "") in scope.enterprises


def not_found(plan_id: int) -> NotFound:
    return NotFound(f"no emergency plan with id {plan_id}", f"不存在编号为 {plan_id} 的应急预案",
                    details={"id": plan_id})


def fetch(conn: Connection, plan_id: int, *, access: LayerAccess, lock: bool = False) -> Mapping[str, Any]:
    """The plan row inside the caller's read scope (404 otherwise, audited when it exists elsewhere)."""
    where, params = read_sql(access.module_scope(MODULE, "read"))
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM emergency_plans p WHERE p.id = :id AND {where}"
                            + (" FOR UPDATE OF p" if lock else "")), {**params, "id": plan_id}).mappings().first()
    if row is None:
        access.note_hidden(conn, TABLE, plan_id, action="write" if lock else "read", table=TABLE, id_field="id",
                           target="emergency_plan")
        raise not_found(plan_id)
    return row


def _check_write(access: LayerAccess, row: Mapping[str, Any], *, creating: bool = False) -> None:
    scope = access.module_scope(MODULE, "write")
    if writable(scope, row):
        return
    owner = row["enterprise_uscc"] or row["district_code"] or "city"
    verb_en, verb_zh = ("create", "新建") if creating else ("change", "修改")
    raise access.refuse(f"emergency_plan:{row.get('id') or 'new'}", "write",
                        reason=f"plan outside the write scope ({scope.describe()})",
                        message_en=f"you may not {verb_en} a {row['owner_level']} plan of {owner}: your data scope "
                                   f"is {scope.describe()}",
                        message_zh=f"无权{verb_zh}{OWNER_LABELS[row['owner_level']]}应急预案（{owner}）"
                                   f"（您的数据范围：{scope.describe()}）",
                        details={"owner_level": row["owner_level"], "district_code": row["district_code"],
                                 "enterprise_uscc": row["enterprise_uscc"], "scope": scope.describe()})


def _owner(conn: Connection, owner: Mapping[str, Any], access: LayerAccess) -> dict[str, Any]:
    level = owner["level"]
    if level == "city":
        return {"owner_level": "city", "district_code": None, "enterprise_uscc": None}
    if level == "district":
        code = owner["district_code"]
        if conn.execute(text("SELECT 1 FROM districts WHERE code = :c"), {"c": code}).first() is None:
            raise InvalidInput("owner.district_code", "the code of a district of the city", value=code,
                               details={"field": "owner.district_code", "reason": "not found"})
        return {"owner_level": "district", "district_code": code, "enterprise_uscc": None}
    where, params = access.where("enterprises", alias="e")
    uscc = owner["enterprise_uscc"]
    district = conn.execute(text(f"SELECT e.district_code FROM enterprises e WHERE e.uscc = :u AND {where}"),
                            {**params, "u": uscc}).scalar()
    if district is None:
        raise InvalidInput("owner.enterprise_uscc", "the USCC of a registered enterprise", value=uscc,
                           details={"field": "owner.enterprise_uscc", "reason": "not found"})
    return {"owner_level": "enterprise", "district_code": district, "enterprise_uscc": uscc}


def _check_resources(conn: Connection, body: Mapping[str, Any], access: LayerAccess) -> None:
    """Every linked resource is a feature of its resource layer that the caller may read."""
    layers = resource_layers()
    for i, res in enumerate(body.get("resources", [])):
        layer = default_registry().get(layers[res["kind"]])
        where, params = access.where(layer.id, alias="t")
        found = conn.execute(text(f'SELECT 1 FROM "{layer.table}" t WHERE t."{layer.id_field}" = :id AND {where}'),
                             {**params, "id": res["id"]}).first()
        if found is None:
            raise InvalidInput(f"resources[{i}].id", f"the id of a {res['kind']} (layer {layer.id})",
                               value=res["id"], details={"field": f"resources[{i}].id", "reason": "not found"})


def _prepare(conn: Connection, body: Any, access: LayerAccess) -> tuple[dict[str, Any], dict[str, Any]]:
    body = schema.validate(body)
    values = {**_owner(conn, body["owner"], access), "kind": body["kind"], "title": body["title"],
              "approved_on": date.fromisoformat(body["approved_on"])}
    values["review_due"] = review_due(values["approved_on"])
    return body, values


def _insert_version(conn: Connection, plan_id: int, version: int, body: Mapping[str, Any], actor: str | None) -> None:
    conn.execute(text("INSERT INTO emergency_plan_versions (plan_id, version, body, actor) VALUES "
                      "(:p, :v, CAST(:b AS jsonb), :a)"),
                 {"p": plan_id, "v": version, "b": json.dumps(body, ensure_ascii=False), "a": actor})


def insert_plan(conn: Connection, body: Any, *, access: LayerAccess, actor: str | None) -> int:
    """Create a plan (version 1) inside the caller's transaction; its id."""
    body, values = _prepare(conn, body, access)
    _check_write(access, values, creating=True)
    _check_resources(conn, body, access)  # after the owner: a foreign plan is refused as such, not by its resources
    plan_id = conn.execute(text(
        "INSERT INTO emergency_plans (kind, owner_level, district_code, enterprise_uscc, title, version, approved_on, "
        "review_due) VALUES (:kind, :owner_level, :district_code, :enterprise_uscc, :title, 1, :approved_on, "
        ":review_due) RETURNING id"), values).scalar_one()
    _insert_version(conn, plan_id, 1, body, actor)
    return plan_id


def create_plan(conn: Connection, body: Any, *, access: LayerAccess, actor: str | None = None) -> dict[str, Any]:
    with conn.begin():
        plan_id = insert_plan(conn, body, access=access, actor=actor)
    return get_plan(conn, plan_id, access=access)


def update_plan(conn: Connection, plan_id: int, body: Any, *, access: LayerAccess,
                actor: str | None = None) -> dict[str, Any]:
    """Revise a plan: the whole new body becomes the next version (the earlier ones are kept unchanged)."""
    with conn.begin():
        row = fetch(conn, plan_id, access=access, lock=True)
        _check_write(access, row)
        body, values = _prepare(conn, body, access)
        _check_write(access, {**values, "id": plan_id})  # still the caller's after the change
        _check_resources(conn, body, access)
        version = row["version"] + 1
        conn.execute(text(
            "UPDATE emergency_plans SET kind = :kind, owner_level = :owner_level, district_code = :district_code, "
            "enterprise_uscc = :enterprise_uscc, title = :title, version = :v, approved_on = :approved_on, "
            "review_due = :review_due, updated_at = now() WHERE id = :id"), {**values, "v": version, "id": plan_id})
        _insert_version(conn, plan_id, version, body, actor)
    return get_plan(conn, plan_id, access=access)


def summary(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "title": row["title"], "kind": row["kind"], "kind_label": schema.KIND_LABELS[row["kind"]],
            "owner": {"level": row["owner_level"], "label": OWNER_LABELS[row["owner_level"]],
                      "district_code": row["district_code"], "enterprise_uscc": row["enterprise_uscc"]},
            "version": row["version"], "approved_on": row["approved_on"].isoformat(),
            "review_due": row["review_due"].isoformat(), "review_status": review_status(row["review_due"]),
            "updated_at": row["updated_at"].isoformat()}


def version_body(conn: Connection, plan_id: int, version: int) -> Mapping[str, Any] | None:
    row = conn.execute(text("SELECT body, actor, created_at FROM emergency_plan_versions WHERE plan_id = :p AND "
                            "version = :v"), {"p": plan_id, "v": version}).mappings().first()
    return row


def get_plan(conn: Connection, plan_id: int, *, access: LayerAccess, version: int | None = None) -> dict[str, Any]:
    """The plan with the body of its current version (or of ``version``)."""
    row = fetch(conn, plan_id, access=access)
    wanted = row["version"] if version is None else version
    found = version_body(conn, plan_id, wanted)
    if found is None:
        raise NotFound(f"emergency plan {plan_id} has no version {wanted}", f"应急预案 {plan_id} 没有第 {wanted} 版",
                       details={"id": plan_id, "version": wanted})
    return {**summary(row), "current_version": row["version"], "version": wanted, "body": found["body"],
            "version_actor": found["actor"], "version_created_at": found["created_at"].isoformat()}


def list_versions(conn: Connection, plan_id: int, *, access: LayerAccess) -> list[dict[str, Any]]:
    fetch(conn, plan_id, access=access)
    rows = conn.execute(text("SELECT version, actor, created_at, body->>'approved_on' AS approved_on FROM "
                             "emergency_plan_versions WHERE plan_id = :p ORDER BY version"), {"p": plan_id}).mappings()
    return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]


def list_plans(conn: Connection, args: Mapping[str, str], *, access: LayerAccess) -> dict[str, Any]:
    """Plans in the caller's read scope; ``review=overdue`` (past the review date) or ``due_soon`` (within 90 days,
    not yet past) lists the plans to evaluate, soonest first."""
    unknown = sorted(set(args) - set(LIST_ARGS))
    if unknown:
        raise InvalidInput(unknown[0], ", ".join(LIST_ARGS), value=unknown[0], details={"reason": "unknown parameter"})
    where, params = read_sql(access.module_scope(MODULE, "read"))
    clauses = [where]
    for name, allowed in (("kind", PLAN_KINDS), ("owner_level", PLAN_OWNERS), ("review", REVIEW_FILTERS)):
        if args.get(name) and args[name] not in allowed:
            raise InvalidInput(name, "one of " + ", ".join(allowed), value=args[name])
    for name in ("kind", "owner_level", "district_code", "enterprise_uscc"):
        if args.get(name):
            clauses.append(f"p.{name} = :f_{name}")
            params[f"f_{name}"] = args[name]
    today = clock.today()
    if args.get("review") == "overdue":
        clauses.append("p.review_due < :today")
    elif args.get("review") == "due_soon":
        clauses.append("p.review_due >= :today AND p.review_due <= :soon")
    params.update(today=today, soon=today + timedelta(days=DUE_SOON_DAYS))
    params["limit"] = int_arg(args, "limit", 100, 1, 1000)
    params["offset"] = int_arg(args, "offset", 0, 0, 10**9)
    clause = " AND ".join(clauses)
    total = conn.execute(text(f"SELECT count(*) FROM emergency_plans p WHERE {clause}"), params).scalar_one()
    order = "p.review_due, p.id" if args.get("review") else "p.id"
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM emergency_plans p WHERE {clause} ORDER BY {order} "
                             "LIMIT :limit OFFSET :offset"), params).mappings().all()
    return {"numberMatched": total, "numberReturned": len(rows), "plans": [summary(r) for r in rows]}


__all__ = ["MODULE", "create_plan", "fetch", "get_plan", "insert_plan", "list_plans", "list_versions", "read_sql",
           "review_due", "review_status", "update_plan", "version_body", "writable"]
