"""Dispatch orders (调度指令): a resource sent to an incident with a task, tracked dispatched → en_route →
on_scene → returned, and material requests drawing on depot stock.

Rescue teams and experts do one job at a time: dispatching one that is already out (or a team off duty) is a
409. The resource row is locked while that is checked, so two dispatchers cannot both send the same team.

Scope: an order belongs to its incident. The incident must be visible to the caller (404) and, for a change,
inside the module's write scope (403); the resource dispatched and the depot drawn on must be ones the caller may
read (404 otherwise, like a missing one).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import Conflict, InvalidInput, NotFound
from emergency.access import INCIDENTS, check_write
from emergency.dispatch.service import travel_time_to
from emergency.history import record_change, unit_of_work
from emergency.incidents.schemas import check_keys, parse_text
from emergency.incidents.service import get_incident, lock_incident
from emergency.lifecycles import DISPATCH_LIFECYCLE, INCIDENT_ACTIVE, INCIDENT_LIFECYCLE
from emergency.models import resource_layers
from emergency.resources.inventory import draw, quantity_value
from emergency.resources.schemas import resource_layer

EXCLUSIVE_KINDS = ("rescue_team", "expert")
_ORDER_COLUMNS = ("o.id, o.incident_id, o.resource_kind, o.resource_id, o.task, o.status, o.estimated_travel_s, "
                  "o.note, o.actor, o.dispatched_at, o.en_route_at, o.on_scene_at, o.returned_at")
_RETURNING = _ORDER_COLUMNS.replace("o.", "")


def _order_json(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in ("dispatched_at", "en_route_at", "on_scene_at", "returned_at"):
        out[key] = out[key].isoformat() if out[key] else None
    out["status_label"] = DISPATCH_LIFECYCLE.labels[out["status"]]
    out["allowed_transitions"] = DISPATCH_LIFECYCLE.allowed(out["status"])
    if "resource_name" not in out:
        out["resource_name"] = None
    return out


def _active(incident: Any) -> None:
    if incident["status"] not in INCIDENT_ACTIVE:
        raise Conflict(
            f"incident {incident['id']} is {incident['status']}: no more dispatch or material requests",
            f"事件 {incident['code']} 已{INCIDENT_LIFECYCLE.labels[incident['status']]}，不能再调度或调用物资",
            details={"current": incident["status"], "allowed_statuses": list(INCIDENT_ACTIVE)},
            code="incident_not_active")


def _id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(name, "a positive integer id", value=value)
    return value


def create_order(conn: Connection, incident_id: int, data: dict[str, Any], *, access: LayerAccess,
                 actor: str | None = None) -> dict[str, Any]:
    """Send ``resource_kind``/``resource_id`` to the incident with a ``task`` (and an optional ``note``)."""
    check_keys(data, ("resource_kind", "resource_id", "task", "note"))
    kind = data.get("resource_kind")
    layer = resource_layer(kind, "resource_kind")
    resource_id = _id(data.get("resource_id"), "resource_id")
    task = parse_text(data.get("task"), "task", 500, required=True)
    note = parse_text(data.get("note"), "note", None)
    with unit_of_work(conn) as changes:
        incident = lock_incident(conn, incident_id, access=access)
        _active(incident)
        status_col = ", r.status" if kind == "rescue_team" else ""
        where, params = access.where(layer.id, alias="r")
        resource = conn.execute(text(f"SELECT r.id, r.name{status_col} FROM {layer.table} r "
                                     f"WHERE r.id = :id AND {where} FOR UPDATE"), {**params, "id": resource_id}).first()
        if resource is None:
            access.note_hidden(conn, layer.id, resource_id)
            raise NotFound(f"no {kind} with id {resource_id}", f"不存在编号为 {resource_id} 的{layer.title_zh}",
                           details={"kind": kind, "id": resource_id})
        if kind in EXCLUSIVE_KINDS:
            busy = conn.execute(text("SELECT id, incident_id FROM dispatch_orders WHERE resource_kind = :k AND "
                                     "resource_id = :r AND status <> 'returned' ORDER BY id LIMIT 1"),
                                {"k": kind, "r": resource_id}).first()
            if busy is not None:
                # the other incident is named only to those who may see it
                seen = access.contains(conn, INCIDENTS, busy.incident_id)
                raise Conflict(f"{kind} {resource_id} is already on dispatch order {busy.id}",
                               f"{resource.name} 正在执行调度指令 {busy.id}",
                               details={"order_id": busy.id, "incident_id": busy.incident_id if seen else None},
                               code="resource_busy")
        if kind == "rescue_team" and resource.status == "off_duty":
            raise Conflict(f"rescue team {resource_id} is off duty", f"{resource.name} 不在岗",
                           details={"status": resource.status}, code="resource_unavailable")
        estimate = travel_time_to(conn, kind, resource_id, incident["lon"], incident["lat"])
        row = conn.execute(text(
            "INSERT INTO dispatch_orders (incident_id, resource_kind, resource_id, task, status, estimated_travel_s, "
            f"note, actor) VALUES (:i, :k, :r, :task, :s, :eta, :note, :actor) RETURNING {_RETURNING}"),
            {"i": incident_id, "k": kind, "r": resource_id, "task": task, "s": DISPATCH_LIFECYCLE.initial,
             "eta": estimate, "note": note, "actor": actor}).one()
        if kind == "rescue_team":
            conn.execute(text("UPDATE rescue_teams SET status = 'dispatched' WHERE id = :id"), {"id": resource_id})
        order = {**_order_json(row), "resource_name": resource.name}
        record_change(conn, changes, incident_id=incident_id, event="dispatch_ordered", data={"order": order},
                      actor=actor)
    return order


def get_order(conn: Connection, order_id: int, *, access: LayerAccess, lock: bool = False) -> dict[str, Any]:
    """The order (404 when missing or when its incident is outside the caller's read scope)."""
    where, params = access.where(INCIDENTS, alias="i")
    row = conn.execute(text(f"SELECT {_ORDER_COLUMNS} FROM dispatch_orders o JOIN incidents i ON i.id = o.incident_id "
                            f"WHERE o.id = :id AND {where}" + (" FOR UPDATE OF o" if lock else "")),
                       {**params, "id": order_id}).first()
    if row is None:
        access.note_hidden(conn, INCIDENTS, order_id, action="write" if lock else "read", table="dispatch_orders",
                           target="dispatch_order")
        raise NotFound(f"no dispatch order with id {order_id}", f"不存在编号为 {order_id} 的调度指令",
                       details={"id": order_id})
    return _order_json(row)


def list_orders(conn: Connection, incident_id: int, *, access: LayerAccess) -> list[dict[str, Any]]:
    get_incident(conn, incident_id, access=access)  # 404 for a missing or foreign incident
    names = " ".join(f"WHEN '{k}' THEN (SELECT name FROM \"{resource_layer(k).table}\" WHERE id = o.resource_id)"
                     for k in resource_layers())
    rows = conn.execute(text(f"SELECT {_ORDER_COLUMNS}, CASE o.resource_kind {names} END AS resource_name "
                             "FROM dispatch_orders o WHERE o.incident_id = :i ORDER BY o.id"), {"i": incident_id}).all()
    return [_order_json(r) for r in rows]


def transition_order(conn: Connection, order_id: int, target: Any, *, access: LayerAccess,
                     note: str | None = None, actor: str | None = None) -> dict[str, Any]:
    """Move an order along dispatched → en_route → on_scene → returned (409 with the allowed next otherwise)."""
    note = parse_text(note, "note", 500)
    with unit_of_work(conn) as changes:
        order = get_order(conn, order_id, access=access, lock=True)
        incident = conn.execute(text("SELECT district_code, enterprise_uscc FROM incidents WHERE id = :id"),
                                {"id": order["incident_id"]}).mappings().one()
        check_write(conn, access, INCIDENTS, incident, what_en="dispatch orders of incidents", what_zh="事件的调度指令")
        DISPATCH_LIFECYCLE.check(order["status"], target)
        conn.execute(text(f"UPDATE dispatch_orders SET status = :s, {target}_at = now() WHERE id = :id"),
                     {"s": target, "id": order_id})
        if target == "returned" and order["resource_kind"] == "rescue_team":
            conn.execute(text("UPDATE rescue_teams SET status = 'standby' WHERE id = :id AND status = 'dispatched'"),
                         {"id": order["resource_id"]})
        record_change(conn, changes, incident_id=order["incident_id"], event="dispatch_status_changed",
                      data={"order_id": order_id, "resource_kind": order["resource_kind"],
                            "resource_id": order["resource_id"], "from": order["status"], "to": target,
                            "note": note}, actor=actor)
    return get_order(conn, order_id, access=access)


def request_material(conn: Connection, incident_id: int, data: dict[str, Any], *, access: LayerAccess,
                     actor: str | None = None) -> dict[str, Any]:
    """Draw ``quantity`` of ``item`` from depot ``depot_id`` for the incident; 409 with ``available`` when short."""
    check_keys(data, ("depot_id", "item", "quantity", "unit", "note"))
    depot_id = _id(data.get("depot_id"), "depot_id")
    item = parse_text(data.get("item"), "item", 60, required=True)
    unit = parse_text(data.get("unit"), "unit", 10)
    quantity = quantity_value(data.get("quantity"), positive=True)
    note = parse_text(data.get("note"), "note", None)
    with unit_of_work(conn) as changes:
        incident = lock_incident(conn, incident_id, access=access)
        _active(incident)
        taken = draw(conn, depot_id, item or "", quantity, unit, access=access)
        row = conn.execute(text(
            "INSERT INTO material_requests (incident_id, depot_id, item, unit, quantity, draws, note, actor) "
            "VALUES (:i, :d, :item, :unit, :q, CAST(:draws AS jsonb), :note, :actor) RETURNING id, requested_at"),
            {"i": incident_id, "d": depot_id, "item": item, "unit": taken["unit"], "q": quantity,
             "draws": json.dumps(taken["draws"], ensure_ascii=False), "note": note, "actor": actor}).one()
        request = {"id": row.id, "incident_id": incident_id, "depot_id": depot_id, "item": item,
                   "unit": taken["unit"], "quantity": quantity, "draws": taken["draws"],
                   "remaining": taken["remaining"], "note": note, "actor": actor,
                   "requested_at": row.requested_at.isoformat()}
        record_change(conn, changes, incident_id=incident_id, event="material_requested", data={"request": request},
                      actor=actor)
    return request


def list_material_requests(conn: Connection, incident_id: int, *, access: LayerAccess) -> list[dict[str, Any]]:
    get_incident(conn, incident_id, access=access)  # 404 for a missing or foreign incident
    rows = conn.execute(text(
        "SELECT m.id, m.incident_id, m.depot_id, d.name AS depot_name, m.item, m.unit, m.quantity, m.draws, m.note, "
        "m.actor, m.requested_at FROM material_requests m JOIN depots d ON d.id = m.depot_id "
        "WHERE m.incident_id = :i ORDER BY m.id"), {"i": incident_id}).mappings().all()
    return [{**r, "requested_at": r["requested_at"].isoformat()} for r in rows]
