"""The incident's sections in the console's feature panel: 快报/续报 timeline, dispatch orders, material requests and
the change history — registered through :func:`core.panels.register_panel_section` like any module's.

The incident itself has been scope-checked before a provider runs. The resource named in a dispatch order and the
depot of a material request are part of the incident's record: whoever may read the incident learns *who* was sent
(a district regulator must know which city team is coming to their scene), as the incident API and its live events
say too. The resource's own record — location, members, phone, stock — opens only inside the caller's read scope
(``ctx.access``): outside it the row carries no id and no link.
The action buttons (lifecycle moves, 续报, dispatch, order status) are drawn by the module's console plug-in
(``static/console.js``) from the raw codes these rows carry (``status_code``, ``next``, ``order_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from core import i18n
from core.panels import PanelContext, register_panel_section, table
from emergency.lifecycles import DISPATCH_LIFECYCLE
from emergency.models import resource_layers
from layers import labels

CHINA = ZoneInfo("Asia/Shanghai")


def _when(value: datetime | None) -> str | None:
    """Local (China) minutes: what a dispatcher reads off a wall clock."""
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value else None


def _label(field: str, value: Any, lang: str) -> Any:
    return labels.enum_label(field, value, lang) or value


def _en(lang: str) -> bool:
    return i18n.normalise_lang(lang) == "en"


def _casualties(row: Mapping[str, Any], lang: str) -> str:
    parts = [f"{i18n.t(key, lang)} {row[key]}" for key in ("deaths", "injuries", "missing") if row[key] is not None]
    return (", " if _en(lang) else "，").join(parts)


def incident_timeline(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    """快报 then every 续报, oldest first (the order they came in)."""
    rows = ctx.conn.execute(text(
        "SELECT seq, kind, reported_at, source, reporter_name, reporter_phone, text, deaths, injuries, missing "
        "FROM incident_reports WHERE incident_id = :id ORDER BY seq"), {"id": feature_id}).mappings()
    out = []
    for r in rows:
        source = _label("report_source", r["source"], ctx.lang) if r["source"] else None
        reporter = " ".join(v for v in (r["reporter_name"], r["reporter_phone"]) if v) or None
        out.append({"seq": r["seq"], "report": f"{_label('report_kind', r['kind'], ctx.lang)} #{r['seq']}",
                    "reported_at": _when(r["reported_at"]),
                    "source": " · ".join(v for v in (source, reporter) if v) or None,
                    "text": r["text"], "casualties": _casualties(r, ctx.lang) or None})
    return table([("report", "报告", "Report"), ("reported_at", "时间", "Time"), ("source", "来源", "Source"),
                  ("text", "内容", "Text"), ("casualties", "伤亡", "Casualties")], out)


def _resources(ctx: PanelContext, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, bool]]:
    """(kind, id) → (name, inside the caller's read scope of the resource's layer) for each of ``pairs``."""
    found: dict[tuple[str, int], tuple[str, bool]] = {}
    for kind, layer_id in resource_layers().items():
        ids = sorted(i for k, i in pairs if k == kind)
        if not ids:
            continue
        where, params = ctx.access.where(layer_id, alias="r")
        rows = ctx.conn.execute(text(f"SELECT r.id, r.name, ({where}) AS inside FROM {layer_id} r "
                                     "WHERE r.id = ANY(:ids)"), {**params, "ids": ids})
        found.update({(kind, rid): (name, bool(inside)) for rid, name, inside in rows})
    return found


def incident_dispatch_orders(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    """Every order of the incident with its status; ``next`` is what the order may move to."""
    orders = ctx.conn.execute(text(
        "SELECT id, resource_kind, resource_id, task, status, estimated_travel_s, dispatched_at FROM dispatch_orders "
        "WHERE incident_id = :id ORDER BY id"), {"id": feature_id}).mappings().all()
    names = _resources(ctx, {(o["resource_kind"], o["resource_id"]) for o in orders})
    rows = []
    for o in orders:
        name, visible = names.get((o["resource_kind"], o["resource_id"]), (None, False))
        eta = o["estimated_travel_s"]
        rows.append({
            "resource": name,
            "resource_layer": resource_layers()[o["resource_kind"]] if visible else None,
            "resource_id": o["resource_id"] if visible else None,
            "resource_kind": _label("resource_kind", o["resource_kind"], ctx.lang),
            "task": o["task"], "status": _label("dispatch_status", o["status"], ctx.lang),
            "eta_min": round(eta / 60, 1) if eta is not None else None,
            "dispatched_at": _when(o["dispatched_at"]),
            "order_id": o["id"], "status_code": o["status"], "next": DISPATCH_LIFECYCLE.allowed(o["status"]),
        })
    content = table([("resource", "资源", "Resource"), ("resource_kind", "类型", "Kind"), ("task", "任务", "Task"),
                     ("eta_min", "预计(分钟)", "ETA (min)"), ("status", "状态", "Status")], rows)
    content["link"] = {"layer_key": "resource_layer", "id_key": "resource_id"}
    return content


def incident_material_requests(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    where, params = ctx.access.where("depots", alias="d")
    rows = ctx.conn.execute(text(
        f"SELECT CASE WHEN {where} THEN m.depot_id END AS depot_id, d.name AS depot, m.item, m.quantity, m.unit, "
        "m.requested_at, m.actor FROM material_requests m JOIN depots d ON d.id = m.depot_id "
        "WHERE m.incident_id = :id ORDER BY m.id"), {**params, "id": feature_id}).mappings()
    out = [{"depot": r["depot"], "depot_id": r["depot_id"], "item": r["item"],
            "quantity": f"{r['quantity']:g} {r['unit']}", "requested_at": _when(r["requested_at"]),
            "actor": r["actor"]} for r in rows]
    return table([("depot", "储备库", "Depot"), ("item", "物资", "Item"), ("quantity", "数量", "Quantity"),
                  ("requested_at", "时间", "Time"), ("actor", "申请人", "By")], out, link_layer="depots",
                 id_key="depot_id")


def _change(event: Mapping[str, Any], names: Mapping[tuple[str, int], tuple[str, bool]], lang: str) -> str:
    """One line saying what changed, in the UI language."""
    data = event["data"] or {}
    arrow = " → "
    match event["event"]:
        case "status_changed":
            return _label("incidents.status", event["from_status"], lang) + arrow + _label("incidents.status", event["to_status"], lang)
        case "created":
            return _label("incidents.status", event["to_status"], lang) or ""
        case "report_added":
            return f"{_label('report_kind', data.get('kind'), lang)} #{data.get('seq')}"
        case "dispatch_ordered":
            order = data.get("order") or {}
            name, _ = names.get((order.get("resource_kind"), order.get("resource_id")), (None, False))
            return f"{_label('resource_kind', order.get('resource_kind'), lang)}: {name or order.get('resource_id')}"
        case "dispatch_status_changed":
            moved = _label("dispatch_status", data.get("from"), lang) + arrow + _label("dispatch_status",
                                                                                      data.get("to"), lang)
            return f"#{data.get('order_id')} {moved}"
        case "updated":
            fields = sorted(data.get("changes") or {})
            return ", ".join(fields)
        case "impact_analysed":
            model = {"plume": ("扩散", "plume"), "explosion": ("爆炸", "explosion")}.get(data.get("model"), ("", ""))
            return f"#{data.get('run')} {model[0] if lang == 'zh-CN' else model[1]}: {', '.join(data.get('zones') or [])}"
        case "plan_activated":
            level = "ⅠⅡⅢⅣ"[data["level"] - 1] if data.get("level") in (1, 2, 3, 4) else "?"
            tasks = f"{data.get('tasks')} 项任务" if not _en(lang) else f"{data.get('tasks')} tasks"
            return f"{data.get('plan_title')} v{data.get('plan_version')} · {level}{'级' if not _en(lang) else ''} · {tasks}"
        case "task_done" | "task_reopened":
            return f"#{data.get('seq')} {data.get('action')}"
        case "material_requested":
            req = data.get("request") or {}
            return f"{req.get('item')} {req.get('quantity', 0):g} {req.get('unit') or ''}".strip()
    return ""


def incident_tasks(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    """The tasks of the incident's activated plans, in order; ``task_id`` and ``done_code`` drive the console's
    done/undone buttons (static/plans.js), ``overdue`` marks those past due and not done."""
    from core import clock

    now = clock.now()
    rows = ctx.conn.execute(text(
        "SELECT t.id, t.seq, t.action, t.owner_label, t.owner_role, t.due_at, t.done_at, t.done_by, p.title "
        "FROM incident_tasks t JOIN plan_activations a ON a.id = t.activation_id JOIN emergency_plans p "
        "ON p.id = a.plan_id WHERE t.incident_id = :id ORDER BY t.seq"), {"id": feature_id}).mappings()
    en = _en(ctx.lang)
    out = []
    for r in rows:
        overdue = r["done_at"] is None and r["due_at"] < now
        state = (("Done" if en else "已完成") + f" {_when(r['done_at'])} {r['done_by']}" if r["done_at"] else
                 ("Overdue" if en else "已逾期") if overdue else ("Open" if en else "进行中"))
        out.append({"seq": r["seq"], "action": r["action"], "owner": r["owner_label"] or r["owner_role"],
                    "due": _when(r["due_at"]), "state": state, "plan": r["title"], "task_id": r["id"],
                    "done_code": r["done_at"] is not None, "overdue": overdue})
    return table([("seq", "序号", "No."), ("action", "处置措施", "Action"), ("owner", "责任岗位", "Owner"),
                  ("due", "时限", "Due"), ("state", "状态", "State")], out)


def incident_history(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    """The change history, newest first (what just happened is what a dispatcher looks for)."""
    events = ctx.conn.execute(text(
        "SELECT event, from_status, to_status, data, actor, at FROM incident_events WHERE incident_id = :id "
        "ORDER BY id DESC LIMIT 200"), {"id": feature_id}).mappings().all()
    pairs = set()
    for e in events:
        order = (e["data"] or {}).get("order") if e["event"] == "dispatch_ordered" else None
        if order and isinstance(order.get("resource_id"), int):
            pairs.add((order.get("resource_kind"), order["resource_id"]))
    names = _resources(ctx, {p for p in pairs if p[0] in resource_layers()})
    rows = [{"at": _when(e["at"]), "event": _label("incident_event", e["event"], ctx.lang),
             "change": _change(e, names, ctx.lang), "actor": e["actor"]} for e in events]
    return table([("at", "时间", "Time"), ("event", "事项", "Event"), ("change", "内容", "Change"),
                  ("actor", "操作人", "By")], rows)


def register() -> None:
    register_panel_section("incidents", "timeline", "快报/续报", "Reports", incident_timeline, order=10)
    register_panel_section("incidents", "dispatch_orders", "调度指令", "Dispatch orders", incident_dispatch_orders,
                           order=20)
    register_panel_section("incidents", "material_requests", "物资调用", "Material requests",
                           incident_material_requests, order=30)
    register_panel_section("incidents", "tasks", "处置任务", "Tasks", incident_tasks, order=35)
    register_panel_section("incidents", "history", "处置记录", "History", incident_history, order=40)

