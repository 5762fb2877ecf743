"""Figures for the console's statistics panel and the large screen's KPI cards (no Flask)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.errors import InvalidInput
from layers.registry import default_registry

# Incidents still being handled (the workflow's states before 结束/评估).
OPEN_INCIDENT_STATUSES = ("reported", "verified", "responding", "under_control")


def _district_filter(conn: Connection, district: str | None) -> str | None:
    if not district:
        return None
    if not conn.execute(text("SELECT 1 FROM districts WHERE code = :c"), {"c": district}).first():
        raise InvalidInput("district", "a district code of this city (GB/T 2260, 6 digits)", value=district)
    return district


def console_stats(conn: Connection, district: str | None = None) -> dict[str, Any]:
    """Enterprises by sector and by risk colour per district, hazard sources by grade, resources by kind.

    ``district`` narrows every figure to one district; the district list itself always has all of them
    (with extents, so a click can zoom there).
    """
    district = _district_filter(conn, district)
    params = {"d": district}
    where = "WHERE (CAST(:d AS text) IS NULL OR district_code = CAST(:d AS text))"
    districts = [dict(r) for r in conn.execute(text(
        "SELECT code, name, ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin, ST_XMax(geom) AS xmax, "
        "ST_YMax(geom) AS ymax FROM districts ORDER BY code")).mappings()]
    for d in districts:
        d["bbox"] = [d.pop("xmin"), d.pop("ymin"), d.pop("xmax"), d.pop("ymax")]
    by_sector: dict[str, dict[str, int]] = {}
    by_risk: dict[str, dict[str, int]] = {}
    for code, sector, risk, n in conn.execute(text(
            f"SELECT district_code, sector, risk_colour, count(*) FROM enterprises {where} GROUP BY 1, 2, 3"), params):
        by_sector.setdefault(code, {}).setdefault(sector, 0)
        by_sector[code][sector] += n
        by_risk.setdefault(code, {}).setdefault(risk, 0)
        by_risk[code][risk] += n
    grades = {int(g): n for g, n in conn.execute(text(
        f"SELECT grade, count(*) FROM hazard_sources {where} GROUP BY 1 ORDER BY 1"), params)}
    resources = []
    for layer in default_registry():
        if layer.group != "resources":
            continue
        n = conn.execute(text(f'SELECT count(*) FROM "{layer.table}" {where}'), params).scalar_one()
        resources.append({"layer": layer.id, "title": {"zh-CN": layer.title_zh, "en": layer.title_en}, "count": n})
    return {
        "district": district,
        "districts": districts,
        "enterprises_by_sector": by_sector,
        "enterprises_by_risk": by_risk,
        "hazard_sources_by_grade": grades,
        "resources_by_kind": resources,
    }


def screen_kpis(conn: Connection) -> dict[str, Any]:
    """The large screen's headline numbers. ``None`` means "no data source yet" — shown as "—", never as 0."""
    one = lambda sql, **p: conn.execute(text(sql), p).scalar_one()  # noqa: E731
    risk = dict(conn.execute(text("SELECT risk_colour, count(*) FROM enterprises GROUP BY 1")).all())
    open_incidents = [dict(r) for r in conn.execute(text(
        "SELECT id, code, title, kind, status, reported_at, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM incidents "
        "WHERE status = ANY(:s) ORDER BY reported_at DESC LIMIT 20"), {"s": list(OPEN_INCIDENT_STATUSES)}).mappings()]
    for row in open_incidents:
        row["reported_at"] = row["reported_at"].isoformat()
    return {
        "enterprises": one("SELECT count(*) FROM enterprises"),
        "hazard_sources": one("SELECT count(*) FROM hazard_sources"),
        "open_incidents": one("SELECT count(*) FROM incidents WHERE status = ANY(:s)", s=list(OPEN_INCIDENT_STATUSES)),
        # Until alarm records exist, the sensors' current status is the only alarm signal there is.
        "alarms": one("SELECT count(*) FROM sensors WHERE status = 'alarm'"),
        # No hidden-danger table yet: unknown, not zero.
        "overdue_hidden_dangers": None,
        "enterprises_by_risk": {c: risk.get(c, 0) for c in ("red", "orange", "yellow", "blue")},
        "hazard_sources_by_grade": {int(g): n for g, n in conn.execute(text(
            "SELECT grade, count(*) FROM hazard_sources GROUP BY 1 ORDER BY 1"))},
        "open_incident_list": open_incidents,
    }
