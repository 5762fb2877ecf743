"""The console's own panel sections, registered through the same hook as any business module.

enterprises → its major hazard sources and its incidents; hazard sources → sensors; depots → stock (a hazard
source's chemical inventory is the hazard source module's: supervision/hazard_sources/console.py). Registered by
the console itself (app/console/views.py). Linked rows of other layers (hazard sources, incidents, sensors) are
limited to the caller's data scope through ``ctx.access``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from core.panels import PanelContext, register_panel_section, table
from layers import labels


def _enterprise_uscc(feature_id: int, ctx: PanelContext) -> str | None:
    uscc = ctx.attributes.get("uscc")
    if uscc:
        return str(uscc)
    return ctx.conn.execute(text("SELECT uscc FROM enterprises WHERE id = :id"), {"id": feature_id}).scalar()


def enterprise_hazard_sources(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    scope, params = ctx.access.where("hazard_sources", alias="h")
    rows = ctx.conn.execute(text(
        "SELECT h.id, h.code, h.name, h.grade, round(h.r_value::numeric, 2) AS r_value, h.exposed_population "
        f"FROM hazard_sources h WHERE h.enterprise_uscc = :uscc AND {scope} ORDER BY h.grade, h.code"),
        {**params, "uscc": _enterprise_uscc(feature_id, ctx)}).mappings()
    rows = [{**r, "grade": labels.enum_label("hazard_sources.grade", r["grade"], ctx.lang) or r["grade"]} for r in rows]
    return table([("code", "编码", "Code"), ("name", "名称", "Name"), ("grade", "等级", "Grade"),
                  ("r_value", "R值", "R value"), ("exposed_population", "500米内人数", "Persons ≤500 m")],
                 rows, link_layer="hazard_sources")


def enterprise_incidents(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    scope, params = ctx.access.where("incidents", alias="i")
    rows = ctx.conn.execute(text(
        "SELECT i.id, i.code, i.title, i.kind, i.status, i.reported_at FROM incidents i "
        f"WHERE i.enterprise_uscc = :uscc AND {scope} ORDER BY i.reported_at DESC LIMIT 50"),
        {**params, "uscc": _enterprise_uscc(feature_id, ctx)}).mappings()
    rows = [{**r, "kind": labels.enum_label("incidents.kind", r["kind"], ctx.lang) or r["kind"],
             "status": labels.enum_label("incidents.status", r["status"], ctx.lang) or r["status"]} for r in rows]
    return table([("reported_at", "接报时间", "Reported"), ("title", "事件", "Incident"), ("kind", "类型", "Kind"),
                  ("status", "状态", "Status")], rows, link_layer="incidents")


def hazard_source_sensors(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    scope, params = ctx.access.where("sensors", alias="s")
    rows = ctx.conn.execute(text(
        "SELECT s.id, s.code, s.kind, s.unit, s.alarm_high, s.status FROM sensors s "
        f"JOIN hazard_sources h ON h.code = s.hazard_source_code WHERE h.id = :id AND {scope} ORDER BY s.code"),
        {**params, "id": feature_id}).mappings()
    rows = [{**r, "kind": labels.enum_label("sensors.kind", r["kind"], ctx.lang) or r["kind"],
             "status": labels.enum_label("sensors.status", r["status"], ctx.lang) or r["status"]} for r in rows]
    return table([("code", "编码", "Code"), ("kind", "类型", "Kind"), ("alarm_high", "高报阈值", "High alarm"),
                  ("unit", "单位", "Unit"), ("status", "状态", "Status")], rows, link_layer="sensors")


def depot_inventory(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    rows = ctx.conn.execute(text(
        "SELECT item, quantity, unit, expiry FROM depot_inventory WHERE depot_id = :id ORDER BY item"),
        {"id": feature_id}).mappings()
    return table([("item", "物资名称", "Item"), ("quantity", "库存数量", "Quantity"), ("unit", "单位", "Unit"),
                  ("expiry", "有效期至", "Expires")], rows)


def register() -> None:
    register_panel_section("enterprises", "hazard_sources", "重大危险源", "Major hazard sources",
                           enterprise_hazard_sources, order=10, requires=("hazard_sources",))
    register_panel_section("enterprises", "incidents", "突发事件", "Incidents", enterprise_incidents, order=20,
                           requires=("incidents",))
    register_panel_section("hazard_sources", "sensors", "在线监测点", "Sensors", hazard_source_sensors, order=20,
                           requires=("sensors",))
    register_panel_section("depots", "inventory", "储备物资", "Stock", depot_inventory, order=10)
