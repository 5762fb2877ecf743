"""Figures for the console's statistics panel and the large screen's KPI cards (no Flask).

Every count is taken over the rows inside the caller's data scope (a district regulator's figures are their
district's); a figure from a layer the caller may not read at all is ``None`` ("not for you"), never 0.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import InvalidInput
from layers.registry import default_registry

# Incidents still being handled (the workflow's states before 结束/评估).
OPEN_INCIDENT_STATUSES = ("reported", "verified", "responding", "under_control")
# Hidden dangers not yet closed (已销号) or dismissed (不予认定).
OPEN_HIDDEN_DANGER_STATES = ("reported", "rectifying", "verifying")


def _district_filter(conn: Connection, district: str | None) -> str | None:
    if not district:
        return None
    if not conn.execute(text("SELECT 1 FROM districts WHERE code = :c"), {"c": district}).first():
        raise InvalidInput("district", "a district code of this city (GB/T 2260, 6 digits)", value=district)
    return district


class _Scoped:
    """Queries over one caller's rows: in the SQL, ``{t}`` is the layer's table (aliased ``t``) and ``{w}`` the
    caller's scope (and the district filter, if any)."""

    def __init__(self, conn: Connection, access: LayerAccess, district: str | None = None) -> None:
        self.conn, self.access, self.district = conn, access, district

    def rows(self, layer_id: str, sql: str, **params: Any) -> list[Any] | None:
        """The rows of ``sql`` over ``layer_id`` (aliased ``t``), or None when the caller may not read it."""
        if not self.access.can(layer_id):
            return None
        scope, scope_params = self.access.where(layer_id, alias="t")
        where = f"{scope} AND (CAST(:d AS text) IS NULL OR t.district_code = CAST(:d AS text))"
        table = default_registry().get(layer_id).table
        result = self.conn.execute(text(sql.format(t=f'"{table}" t', w=where)),
                                   {**scope_params, **params, "d": self.district})
        return list(result)

    def count(self, layer_id: str, condition: str = "TRUE", **params: Any) -> int | None:
        rows = self.rows(layer_id, f"SELECT count(*) FROM {{t}} WHERE {{w}} AND {condition}", **params)
        return None if rows is None else rows[0][0]


def console_stats(conn: Connection, district: str | None = None, *, access: LayerAccess) -> dict[str, Any]:
    """Enterprises by sector and by risk colour per district, hazard sources by grade, resources by kind.

    ``district`` narrows every figure to one district; the district list itself always has all of them
    (with extents, so a click can zoom there). Only rows in the caller's scope count; a figure of a layer
    the caller may not read is None, and a resource layer it may not read is left out of ``resources_by_kind``.
    """
    district = _district_filter(conn, district)
    q = _Scoped(conn, access, district)
    districts = [dict(r) for r in conn.execute(text(
        "SELECT code, name, ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin, ST_XMax(geom) AS xmax, "
        "ST_YMax(geom) AS ymax FROM districts ORDER BY code")).mappings()]
    for d in districts:
        d["bbox"] = [d.pop("xmin"), d.pop("ymin"), d.pop("xmax"), d.pop("ymax")]
    by_sector: dict[str, dict[str, int]] | None = None
    by_risk: dict[str, dict[str, int]] | None = None
    enterprises = q.rows("enterprises", "SELECT t.district_code, t.sector, t.risk_colour, count(*) FROM {t} "
                                        "WHERE {w} GROUP BY 1, 2, 3")
    if enterprises is not None:
        by_sector, by_risk = {}, {}
        for code, sector, risk, n in enterprises:
            by_sector.setdefault(code, {}).setdefault(sector, 0)
            by_sector[code][sector] += n
            by_risk.setdefault(code, {}).setdefault(risk, 0)
            by_risk[code][risk] += n
    grades = q.rows("hazard_sources", "SELECT t.grade, count(*) FROM {t} WHERE {w} GROUP BY 1 ORDER BY 1")
    resources = []
    for layer in default_registry():
        if layer.group != "resources" or not access.can(layer.id):
            continue
        resources.append({"layer": layer.id, "title": {"zh-CN": layer.title_zh, "en": layer.title_en},
                          "count": q.count(layer.id)})
    return {
        "district": district,
        "districts": districts,
        "enterprises_by_sector": by_sector,
        "enterprises_by_risk": by_risk,
        "hazard_sources_by_grade": None if grades is None else {int(g): n for g, n in grades},
        "resources_by_kind": resources,
    }


def screen_kpis(conn: Connection, *, access: LayerAccess) -> dict[str, Any]:
    """The large screen's headline numbers over the caller's scope. ``None`` means "no data source yet" or "not
    for you" — shown as "—", never as 0."""
    q = _Scoped(conn, access)
    statuses = {"s": list(OPEN_INCIDENT_STATUSES)}
    risk = q.rows("enterprises", "SELECT t.risk_colour, count(*) FROM {t} WHERE {w} GROUP BY 1")
    grades = q.rows("hazard_sources", "SELECT t.grade, count(*) FROM {t} WHERE {w} GROUP BY 1 ORDER BY 1")
    incidents = q.rows("incidents", "SELECT t.id, t.code, t.title, t.kind, t.status, t.reported_at, ST_X(t.geom) AS lon, "
                                    "ST_Y(t.geom) AS lat FROM {t} WHERE {w} AND t.status = ANY(:s) "
                                    "ORDER BY t.reported_at DESC LIMIT 20", **statuses)
    open_incidents = None if incidents is None else [dict(r._mapping) for r in incidents]
    for row in open_incidents or []:
        row["reported_at"] = row["reported_at"].isoformat()
    return {
        "enterprises": q.count("enterprises"),
        "hazard_sources": q.count("hazard_sources"),
        "open_incidents": q.count("incidents", "t.status = ANY(:s)", **statuses),
        # Until alarm records exist, the sensors' current status is the only alarm signal there is.
        "alarms": q.count("sensors", "t.status = 'alarm'"),
        # 逾期未整改: open hidden dangers past their rectification deadline (the case engine keeps the layer's
        # state and overdue flag); the same figure as "overdue" of /api/hidden-dangers/stats
        "overdue_hidden_dangers": q.count("hidden_dangers", "t.overdue AND t.state = ANY(:open)",
                                          open=list(OPEN_HIDDEN_DANGER_STATES)),
        "enterprises_by_risk": None if risk is None else {c: dict(risk).get(c, 0)
                                                          for c in ("red", "orange", "yellow", "blue")},
        "hazard_sources_by_grade": None if grades is None else {int(g): n for g, n in grades},
        "open_incident_list": open_incidents,
    }
