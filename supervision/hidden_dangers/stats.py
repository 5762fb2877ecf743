"""Statistics of hidden dangers (隐患排查治理统计) over the caller's data scope (no Flask).

The figures are read from the ``hidden_dangers`` layer (one row per hidden-danger case, kept by the case engine) and
filtered by the caller's read scope of that layer — the same predicate as WFS and OGC API Features — so a district
regulator's figures are their district's, an enterprise user's their own enterprise's, and nobody's figure counts a
row they could not open on the map.

What the counts mean (one row = one hidden danger):

* ``total``: reported (in the period, when one is given), whatever their state now;
* ``open``: not yet closed or dismissed (待制定整改方案, 整改中, 待复查验收);
* ``overdue``: open and past their rectification deadline (逾期未整改) — the large screen's card;
* ``listed``: open and under supervised listing (挂牌督办中);
* ``closed``: rectified, verified and closed (已销号); ``dismissed``: not confirmed as a hidden danger (不予认定);
* ``rectification_rate`` (整改率): closed / (total − dismissed), ``None`` when nothing counts.

Days and months are China's (Asia/Shanghai); "today" is :func:`core.clock.today`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock
from layers.registry import default_registry
from supervision.hidden_dangers.schemas import StatsQuery

LAYER = "hidden_dangers"
OPEN_STATES = ("reported", "rectifying", "verifying")
COUNTS = ("total", "open", "overdue", "listed", "closed", "dismissed")
COUNT_SQL = (
    "count(*) AS total, "
    "count(*) FILTER (WHERE t.state = ANY(:open_states)) AS open, "
    "count(*) FILTER (WHERE t.state = ANY(:open_states) AND t.overdue) AS overdue, "
    "count(*) FILTER (WHERE t.state = ANY(:open_states) AND t.listed) AS listed, "
    "count(*) FILTER (WHERE t.state = 'closed') AS closed, "
    "count(*) FILTER (WHERE t.state = 'dismissed') AS dismissed"
)
# a hidden danger with no enterprise (a grid patrol's finding in the street), or one whose enterprise the caller
# may not read: its industry is unknown to the caller
NONE_KEY = "none"
NONE_LABEL = {"zh-CN": "未关联企业", "en": "No enterprise"}
CHINA_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class _Grouping:
    key: str                       # SQL of the group's key
    label: str = "NULL::text"          # SQL of its words (aggregated with min()), or NULL
    join: str = ""                 # a join the key needs: "enterprises" or "grid_cells", inside the caller's scope
    field: str | None = None       # a coded field of the enterprises/hidden_dangers layer: every value, in order


GROUPINGS: dict[str, _Grouping] = {
    "district": _Grouping("t.district_code"),
    "grid_cell": _Grouping("t.grid_cell_code", label="g.name", join="grid_cells"),
    "industry": _Grouping(f"COALESCE(e.sector, '{NONE_KEY}')", join="enterprises", field="enterprises.sector"),
    "industry_code": _Grouping(f"COALESCE(e.industry_code, '{NONE_KEY}')", join="enterprises"),
    "category": _Grouping("t.category", field="hidden_dangers.category"),
    "level": _Grouping("t.level", field="hidden_dangers.level"),
    "state": _Grouping("t.state", field="hidden_dangers.state"),
    "source": _Grouping("t.source", field="hidden_dangers.source"),
}
_JOINS = {"enterprises": ("e", "LEFT JOIN enterprises e ON e.uscc = t.enterprise_uscc AND {w}"),
          "grid_cells": ("g", "LEFT JOIN grid_cells g ON g.code = t.grid_cell_code AND {w}")}


def rectification_rate(counts: dict[str, int]) -> float | None:
    base = counts["total"] - counts["dismissed"]
    return None if base <= 0 else round(counts["closed"] / base, 4)


def _figures(counts: dict[str, int]) -> dict[str, Any]:
    return {**{k: int(counts.get(k, 0)) for k in COUNTS},
            "rectification_rate": rectification_rate({k: int(counts.get(k, 0)) for k in COUNTS})}


def _period(start: date | None, end: date | None) -> tuple[list[str], dict[str, Any]]:
    """Days reported, inclusive at both ends, as instants (00:00 in China of ``start``, of the day after ``end``)."""
    conditions, params = [], {}
    if start is not None:
        conditions.append("t.reported_at >= :period_start")
        params["period_start"] = clock.china_midnight(start)
    if end is not None:
        conditions.append("t.reported_at < :period_end")
        params["period_end"] = clock.china_midnight(end + timedelta(days=1))
    return conditions, params


def _field_labels(reference: str) -> list[tuple[str, dict[str, str]]]:
    """Every coded value of ``layer.field``, in the layer file's order, with its words."""
    layer_id, _, name = reference.partition(".")
    field = default_registry().get(layer_id).field(name)
    return [(str(v), {"zh-CN": (field.labels or {})[v][0], "en": (field.labels or {})[v][1]})
            for v in field.enum or ()]


def stats(conn: Connection, query: StatsQuery, *, access: LayerAccess) -> dict[str, Any]:
    """The counts of hidden dangers in the caller's scope grouped by ``query.by``, with their sum.

    Coded groupings (category, level, state, source, industry) list every value, zeros included, in the layer
    file's order; districts list every district the scope covers; grid cells and GB/T 4754 classes list those with
    hidden dangers, most first. Grid-cell names and industries come from rows the caller may read; otherwise the
    key stands alone (and an unreadable enterprise counts as ``none``).
    """
    scope = access.require(LAYER)
    where, params = access.where(LAYER, alias="t", scope=scope)
    grouping = GROUPINGS[query.by]
    join = ""
    if grouping.join:
        alias, template = _JOINS[grouping.join]
        join_where, join_params = access.where(grouping.join, alias=alias)
        join = template.format(w=join_where)
        params.update(join_params)
    period, period_params = _period(query.start, query.end)
    sql = (f"SELECT {grouping.key} AS key, min({grouping.label}) AS label, {COUNT_SQL} "
           f"FROM hidden_dangers t {join} WHERE {' AND '.join([where, *period])} GROUP BY 1")
    rows = {r["key"]: dict(r) for r in conn.execute(
        text(sql), {**params, **period_params, "open_states": list(OPEN_STATES)}).mappings()}

    groups: list[dict[str, Any]] = []
    if grouping.field is not None:
        for key, label in _field_labels(grouping.field):
            groups.append({"key": key, "label": label, **_figures(rows.pop(key, {}))})
        if NONE_KEY in rows:
            groups.append({"key": NONE_KEY, "label": NONE_LABEL, **_figures(rows.pop(NONE_KEY))})
    elif query.by == "district":
        districts = conn.execute(text("SELECT code, name FROM districts ORDER BY code")).all()
        for code, name in districts:
            if code in rows or scope.all or code in scope.districts:
                groups.append({"key": code, "label": {"zh-CN": name, "en": name}, **_figures(rows.pop(code, {}))})
    ordered = sorted(rows.values(), key=lambda r: (-r["total"], r["key"] is None, r["key"] or ""))
    for row in ordered:  # grid cells, industry codes (and any key no list above knew)
        label = row["label"] or row["key"] or NONE_KEY
        groups.append({"key": row["key"], "label": {"zh-CN": label, "en": label}, **_figures(row)})
    totals = {k: sum(g[k] for g in groups) for k in COUNTS}
    return {
        "by": query.by,
        "from": query.start.isoformat() if query.start else None,
        "to": query.end.isoformat() if query.end else None,
        "scope": scope.describe(),
        "groups": groups,
        "totals": _figures(totals),
    }


def _month_start(day: date, back: int = 0) -> date:
    """The first day of the month ``back`` months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def trend(conn: Connection, months: int, *, access: LayerAccess) -> dict[str, Any]:
    """Hidden dangers reported and closed in each of the last ``months`` months (the current one included), by the
    month in China, over the caller's scope; months without any are zeros."""
    access.require(LAYER)
    where, params = access.where(LAYER, alias="t")
    today = clock.today()
    first, after = _month_start(today, months - 1), _month_start(today, -1)
    bounds = {"t0": clock.china_midnight(first), "t1": clock.china_midnight(after), "tz": CHINA_TZ}
    reported = dict(conn.execute(text(
        "SELECT to_char(t.reported_at AT TIME ZONE :tz, 'YYYY-MM'), count(*) FROM hidden_dangers t "
        f"WHERE {where} AND t.reported_at >= :t0 AND t.reported_at < :t1 GROUP BY 1"), {**params, **bounds}).all())
    closed = dict(conn.execute(text(
        "SELECT to_char(t.closed_at AT TIME ZONE :tz, 'YYYY-MM'), count(*) FROM hidden_dangers t "
        f"WHERE {where} AND t.state = 'closed' AND t.closed_at >= :t0 AND t.closed_at < :t1 GROUP BY 1"),
        {**params, **bounds}).all())
    series = []
    for back in range(months - 1, -1, -1):
        month = _month_start(today, back).strftime("%Y-%m")
        series.append({"month": month, "reported": int(reported.get(month, 0)), "closed": int(closed.get(month, 0))})
    return {"months": series, "from": series[0]["month"], "to": series[-1]["month"], "today": today.isoformat()}


def grid_heat(conn: Connection, *, access: LayerAccess) -> dict[str, Any]:
    """Every grid cell the caller may read, as a GeoJSON FeatureCollection (CGCS2000 lon/lat), with the open,
    overdue and listed hidden dangers in it that the caller may read: the console's heat (choropleth) layer."""
    access.require(LAYER)
    access.require("grid_cells")
    where, params = access.where(LAYER, alias="t")
    cell_where, cell_params = access.where("grid_cells", alias="g")
    rows = conn.execute(text(
        "SELECT g.code, g.name, g.district_code, ST_AsGeoJSON(g.geom, 6) AS geometry, "
        "COALESCE(c.open, 0) AS open, COALESCE(c.overdue, 0) AS overdue, COALESCE(c.listed, 0) AS listed "
        "FROM grid_cells g LEFT JOIN ("
        "  SELECT t.grid_cell_code AS code, count(*) AS open, count(*) FILTER (WHERE t.overdue) AS overdue, "
        "  count(*) FILTER (WHERE t.listed) AS listed FROM hidden_dangers t "
        f"  WHERE {where} AND t.state = ANY(:open_states) GROUP BY 1) c ON c.code = g.code "
        f"WHERE {cell_where} ORDER BY g.code"),
        {**params, **cell_params, "open_states": list(OPEN_STATES)}).mappings()
    features = []
    for r in rows:
        features.append({"type": "Feature", "id": r["code"], "geometry": json.loads(r["geometry"]),
                         "properties": {"code": r["code"], "name": r["name"], "district_code": r["district_code"],
                                        "open": r["open"], "overdue": r["overdue"], "listed": r["listed"]}})
    return {
        "type": "FeatureCollection",
        "features": features,
        "max": {k: max((f["properties"][k] for f in features), default=0) for k in ("open", "overdue", "listed")},
        "today": clock.today().isoformat(),
    }


__all__ = ["COUNTS", "GROUPINGS", "LAYER", "OPEN_STATES", "grid_heat", "rectification_rate", "stats", "trend"]
