"""The case module's section in the console's feature panel: the open cases of an enterprise, a hazard source or a
grid cell (办理中案件).

Cases are no layer of the registry the panel could filter by, so the section filters them itself with the caller's
data scope of the case module (the ``cases`` rules of the policy: city, district or own enterprise) and the
engine's predicate, exactly as the case API does. The console plug-in (static/console.js) turns each row into a link to its case page and adds a 发起 button
per start action the caller may use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import text

from core import clock
from core.panels import PanelContext, register_panel_section, table
from core.scope import NOTHING, Scope
from supervision.cases.engine import MODULE, scope_sql

LIMIT = 50
# layer id → (anchor kind, the attribute that names the feature besides its row id)
ANCHORS: dict[str, tuple[str, str]] = {
    "enterprises": ("enterprise", "uscc"),
    "hazard_sources": ("hazard_source", "code"),
    "grid_cells": ("grid_cell", "code"),
}
COLUMNS = [("code", "编号", "Code"), ("title", "事项", "Case"), ("state", "状态", "State"), ("due", "期限", "Due")]


def case_scope(ctx: PanelContext) -> Scope:
    """The cases the caller may read: the case module's read scope, as the case API reads it (nothing when the
    access cannot tell)."""
    module_scope: Callable[[str, str], Scope] | None = getattr(ctx.access, "module_scope", None)
    return module_scope(MODULE, "read") if module_scope is not None else NOTHING


def anchor_sql(layer_id: str, attributes: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Which cases belong to the feature: those anchored to it (by its natural key: USCC, hazard source or grid
    cell code); an enterprise also has the cases of its hazard sources and of points on its premises
    (enterprise_uscc), a grid cell those of places inside it (grid_cell_code). None: the feature has no key."""
    kind, key_field = ANCHORS[layer_id]
    key = attributes.get(key_field)
    if key is None:
        return None
    params = {"kind": kind, "key": str(key)}
    own = "(c.anchor_kind = :kind AND c.anchor_id = :key)"
    if layer_id == "enterprises":
        return f"({own} OR c.enterprise_uscc = :key)", params
    if layer_id == "grid_cells":
        return f"({own} OR c.grid_cell_code = :key)", params
    return own, params


def _labels(lang: str) -> Callable[[str, str | None], tuple[str, str | None]]:
    """(case type, state) → (type title, state label) in ``lang``, from the active case types."""
    from supervision.cases import registry  # noqa: PLC0415 - the case types are loaded on first use

    i = "en" if lang.startswith("en") else "zh-CN"
    types = registry.case_types()

    def label(case_type: str, state: str | None) -> tuple[str, str | None]:
        ct = types.get(case_type)
        if ct is None:
            return case_type, state
        found = ct.states.get(state) if state else None
        return ct.title.get(i) or ct.title["zh-CN"], (found.label.get(i) or found.label["zh-CN"]) if found else state

    return label


def open_cases(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    scope = case_scope(ctx)
    if scope.empty:
        # not "no records": the caller may not see cases at all
        return {"kind": "text", "text": "无权查看案件" if not ctx.lang.startswith("en") else "You may not see cases"}
    where, params = scope_sql(scope)
    found = anchor_sql(ctx.layer_id, ctx.attributes)
    if found is None:
        return table(COLUMNS, [])
    anchor, anchor_params = found
    rows = ctx.conn.execute(text(
        "SELECT c.id, c.code, c.case_type, c.title, c.state, c.due_date, c.due_at, "
        "c.overdue OR c.due_date < CAST(:today AS date) AS overdue FROM cases c "
        f"WHERE c.closed_at IS NULL AND {anchor} AND {where} "
        f"ORDER BY c.due_date ASC NULLS LAST, c.id DESC LIMIT {LIMIT}"),
        {**params, **anchor_params, "today": clock.today()}).mappings().all()
    label = _labels(ctx.lang)
    late = " (overdue)" if ctx.lang.startswith("en") else "（逾期）"
    out = []
    for r in rows:
        type_title, state_label = label(r["case_type"], r["state"])
        # an elapsed-time deadline (an alarm's escalation) shows its instant, China time, to the minute
        shown = (r["due_at"].astimezone(clock.CHINA).strftime("%Y-%m-%d %H:%M") if r["due_at"] is not None
                 else r["due_date"] and r["due_date"].isoformat())
        due = shown + (late if r["overdue"] else "") if shown else None
        out.append({"code": r["code"], "title": r["title"], "type": type_title, "state": state_label, "due": due,
                    "case_id": r["id"], "case_type": r["case_type"], "overdue": bool(r["overdue"])})
    return table(COLUMNS, out)


def register() -> None:
    for order, layer_id in enumerate(ANCHORS):
        register_panel_section(layer_id, "cases", "办理中案件", "Open cases", open_cases, order=60 + order)
