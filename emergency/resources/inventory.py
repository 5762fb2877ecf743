"""Depot stock (``depot_inventory``): view, restock, stocktake, and the draw-down that can never over-draw.

Stock of one item may sit in several batches with different expiry dates. A draw locks every batch of the item
in the depot (``SELECT … FOR UPDATE``, always in the same order, so concurrent draws queue instead of
deadlocking), takes from the batch that expires first, and refuses with 409 and the available quantity when
there is not enough. Expired batches are not drawn from. The table's ``CHECK (quantity >= 0)`` is the last line
of defence should any other writer get this wrong.

A depot outside the caller's read scope does not exist for them (404); restocking and stocktaking also need the
depot inside the module's write scope (403 otherwise).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import Conflict, InvalidInput, NotFound
from emergency.access import check_write, tag
from emergency.history import Changes, unit_of_work

_COLUMNS = "id, depot_id, item, unit, quantity, expiry"


def _row(r: Any) -> dict[str, Any]:
    return {"id": r.id, "depot_id": r.depot_id, "item": r.item, "unit": r.unit, "quantity": r.quantity,
            "expiry": r.expiry.isoformat() if r.expiry else None}


def _depot(conn: Connection, depot_id: int, access: LayerAccess, *, write: bool = False) -> Any:
    """The depot (id, name, district_code): 404 outside the read scope; with ``write``, 403 outside the write scope."""
    where, params = access.where("depots", alias="d")
    row = conn.execute(text(f"SELECT d.id, d.name, d.district_code FROM depots d WHERE d.id = :id AND {where}"),
                       {**params, "id": depot_id}).first()
    if row is None:
        access.note_hidden(conn, "depots", depot_id, action="write" if write else "read")
        raise NotFound(f"no depot with id {depot_id}", f"不存在编号为 {depot_id} 的物资储备库",
                       details={"kind": "depot", "id": depot_id})
    if write:
        check_write(conn, access, "depots", {"district_code": row.district_code}, what_en="depot stock",
                    what_zh="物资储备库库存")
    return row


def quantity_value(value: Any, name: str = "quantity", *, positive: bool) -> float:
    allowed = "a finite number > 0" if positive else "a finite number ≥ 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(name, allowed, value=value if value is None else str(value))
    if value < 0 or (positive and value == 0):
        raise InvalidInput(name, allowed, value=value, details={"reason": "out of range"})
    return float(value)


def _text(data: dict[str, Any], name: str, length: int, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(name, f"text of 1..{length} characters", details={"reason": "required"})
        return None
    if not isinstance(value, str) or len(value.strip()) == 0 or len(value) > length:
        raise InvalidInput(name, f"text of 1..{length} characters", value=value)
    return value.strip()


def _expiry(data: dict[str, Any]) -> date | None:
    value = data.get("expiry")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput("expiry", "a date YYYY-MM-DD or null", value=value)


def _check_keys(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(unknown[0], "one of " + ", ".join(allowed), value=unknown[0],
                           details={"reason": "unknown field"})


def list_inventory(conn: Connection, depot_id: int, *, access: LayerAccess) -> dict[str, Any]:
    depot = _depot(conn, depot_id, access)
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM depot_inventory WHERE depot_id = :d "
                             "ORDER BY item, expiry NULLS LAST, id"), {"d": depot_id}).all()
    return {"depot_id": depot.id, "depot_name": depot.name, "items": [_row(r) for r in rows]}


def add_inventory(conn: Connection, depot_id: int, data: dict[str, Any], *, access: LayerAccess) -> dict[str, Any]:
    """Restock: a new batch (item, unit, quantity ≥ 0, expiry or null)."""
    _check_keys(data, ("item", "unit", "quantity", "expiry"))
    item = _text(data, "item", 60, required=True)
    unit = _text(data, "unit", 10, required=True)
    quantity = quantity_value(data.get("quantity"), positive=False)
    expiry = _expiry(data)
    with unit_of_work(conn) as changes:
        depot = _depot(conn, depot_id, access, write=True)
        row = conn.execute(text(f"INSERT INTO depot_inventory (depot_id, item, unit, quantity, expiry) "
                                f"VALUES (:d, :item, :unit, :q, :e) RETURNING {_COLUMNS}"),
                           {"d": depot_id, "item": item, "unit": unit, "q": quantity, "e": expiry}).one()
        _announce(changes, depot)
    return _row(row)


def update_inventory(conn: Connection, depot_id: int, inventory_id: int, data: dict[str, Any], *,
                     access: LayerAccess) -> dict[str, Any]:
    """Stocktake: set a batch's quantity (absolute, ≥ 0), unit or expiry."""
    _check_keys(data, ("quantity", "unit", "expiry"))
    values: dict[str, Any] = {}
    if "quantity" in data:
        values["quantity"] = quantity_value(data["quantity"], positive=False)
    if "unit" in data:
        values["unit"] = _text(data, "unit", 10, required=True)
    if "expiry" in data:
        values["expiry"] = _expiry(data)
    with unit_of_work(conn) as changes:
        depot = _depot(conn, depot_id, access, write=True)
        sets = ", ".join(f"{k} = :{k}" for k in values) or "quantity = quantity"
        row = conn.execute(text(f"UPDATE depot_inventory SET {sets} WHERE id = :id AND depot_id = :d "
                                f"RETURNING {_COLUMNS}"), {**values, "id": inventory_id, "d": depot_id}).first()
        if row is None:
            raise NotFound(f"depot {depot_id} has no inventory line {inventory_id}",
                           f"储备库 {depot_id} 没有编号为 {inventory_id} 的库存记录",
                           details={"depot_id": depot_id, "id": inventory_id})
        _announce(changes, depot)
    return _row(row)


def _announce(changes: Changes, depot: Any) -> None:
    changes.announce("resource.changed", {"kind": "depot", "action": "inventory_changed", "ids": [depot.id]},
                     scope=tag("depots", {"district_code": depot.district_code}))


def draw(conn: Connection, depot_id: int, item: str, quantity: float, unit: str | None, *,
         access: LayerAccess) -> dict[str, Any]:
    """Take ``quantity`` of ``item`` from the depot inside the caller's transaction (earliest expiry first).

    Raises NotFound when the depot is not one the caller may read or stocks no such item, Conflict (409, with
    ``available``) when short.
    """
    _depot(conn, depot_id, access)
    batches = conn.execute(text(
        "SELECT id, unit, quantity, expiry, (expiry IS NOT NULL AND expiry < CURRENT_DATE) AS expired "
        "FROM depot_inventory WHERE depot_id = :d AND item = :item AND (CAST(:unit AS text) IS NULL OR unit = :unit) "
        "ORDER BY id FOR UPDATE"), {"d": depot_id, "item": item, "unit": unit}).all()
    if not batches:
        raise NotFound(f"depot {depot_id} stocks no {item!r}" + (f" in {unit}" if unit else ""),
                       f"储备库 {depot_id} 没有储备“{item}”", details={"depot_id": depot_id, "item": item})
    units = sorted({b.unit for b in batches})
    if len(units) > 1:
        raise InvalidInput("unit", "one of " + ", ".join(units), details={"reason": "the item is stocked in "
                                                                           "several units; name one"})
    usable = sorted((b for b in batches if not b.expired), key=lambda b: (b.expiry is None, b.expiry, b.id))
    available = sum(b.quantity for b in usable)
    if available < quantity:
        expired = sum(b.quantity for b in batches if b.expired)
        raise Conflict(
            f"depot {depot_id} has only {available:g} {units[0]} of {item} (requested {quantity:g})",
            f"储备库 {depot_id} 的“{item}”仅有 {available:g}{units[0]}（申请 {quantity:g}）",
            details={"depot_id": depot_id, "item": item, "unit": units[0], "requested": quantity,
                     "available": available, "expired": expired},
            code="insufficient_stock",
        )
    need, draws = quantity, []
    for b in usable:
        if need <= 0:
            break
        take = min(need, b.quantity)
        # Emptying a batch sets it to exactly 0, so float subtraction can never leave -1e-13 behind.
        conn.execute(text("UPDATE depot_inventory SET quantity = CASE WHEN :all THEN 0 ELSE quantity - :take END "
                          "WHERE id = :id"), {"all": take >= b.quantity, "take": take, "id": b.id})
        draws.append({"inventory_id": b.id, "quantity": take, "expiry": b.expiry.isoformat() if b.expiry else None})
        need -= take
    return {"unit": units[0], "draws": draws, "remaining": available - quantity}
