"""Hand-made hidden dangers for the statistics tests, inserted straight into the ``hidden_dangers`` layer table (the
case engine that writes it in production is not needed to count it), with the figures expected of them, worked out
by hand below — not by the code under test.

Ten hidden dangers in two districts (own ``329902``, foreign ``329903``), of three enterprises (E1, E2 in the own
district, E3 in the foreign one; E1 and E3 危险化学品, E2 工贸) and three grid cells (G1, G2 own, G3 foreign). The
clock is frozen at 2026-06-15 12:00 in China. Days and months are China's: several rows sit on a boundary where the
UTC date or month differs (marked "edge").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import sqlalchemy as sa

CN = ZoneInfo("Asia/Shanghai")
OWN_DISTRICT, FOREIGN_DISTRICT = "329902", "329903"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=CN)


def cn(*args: int) -> datetime:
    return datetime(*args, tzinfo=CN)  # type: ignore[misc]


@dataclass(frozen=True)
class Row:
    code: str
    district: str
    enterprise: str | None  # "E1".."E3"
    cell: str | None        # "G1".."G3"
    level: str
    category: str
    source: str
    state: str
    overdue: bool
    listed: bool
    reported_at: datetime
    closed_at: datetime | None = None


D1, D2 = OWN_DISTRICT, FOREIGN_DISTRICT
ROWS = [
    # edge: 2026-05-31 16:30 UTC is already 1 June in China
    Row("YH-T-01", D1, "E1", "G1", "general", "equipment", "self_check", "reported", False, False, cn(2026, 6, 1, 0, 30)),
    Row("YH-T-02", D1, "E1", "G1", "major", "fire", "inspection", "rectifying", True, True, cn(2026, 3, 10, 9)),
    # edge: 2026-04-30 16:30 UTC is May in China
    Row("YH-T-03", D1, "E1", "G2", "general", "electrical", "self_check", "verifying", True, False, cn(2026, 5, 1, 0, 30)),
    Row("YH-T-04", D1, "E2", "G2", "general", "equipment", "inspection", "closed", False, False, cn(2026, 1, 15, 10),
        cn(2026, 2, 20, 15)),
    # edge: closed 2025-12-31 16:10 UTC, which is January 2026 in China
    Row("YH-T-05", D1, None, "G1", "general", "site", "grid_patrol", "closed", False, False, cn(2025, 12, 31, 20),
        cn(2026, 1, 1, 0, 10)),
    Row("YH-T-06", D1, "E2", None, "general", "management", "self_check", "dismissed", False, False, cn(2026, 4, 2, 11),
        cn(2026, 4, 5, 11)),
    Row("YH-T-07", D2, "E3", "G3", "major", "hazchem", "inspection", "rectifying", True, True, cn(2026, 2, 10, 14)),
    # reported before the 24-month window, closed inside it
    Row("YH-T-08", D2, "E3", "G3", "general", "fire", "complaint", "closed", False, False, cn(2024, 5, 1, 9),
        cn(2024, 7, 2, 9)),
    Row("YH-T-09", D2, None, "G3", "general", "other", "grid_patrol", "reported", False, False, cn(2026, 6, 15, 9)),
    # overdue and listed once, closed since: neither overdue nor listed any more
    Row("YH-T-10", D1, "E1", "G1", "general", "equipment", "self_check", "closed", True, True, cn(2025, 8, 8, 8),
        cn(2025, 10, 10, 10)),
]


def figures(total: int, open_: int, overdue: int, listed: int, closed: int, dismissed: int,
            rate: float | None) -> dict[str, object]:
    return {"total": total, "open": open_, "overdue": overdue, "listed": listed, "closed": closed,
            "dismissed": dismissed, "rectification_rate": rate}


# -- the expected figures, counted by hand from ROWS ---------------------------------------------------------------
CITY = figures(10, 5, 3, 2, 4, 1, 0.4444)          # closed 4 of 9 confirmed
OWN = figures(7, 3, 2, 1, 3, 1, 0.5)               # rows 1-6, 10: closed 3 of 6
FOREIGN = figures(3, 2, 1, 1, 1, 0, 0.3333)        # rows 7-9
E1 = figures(4, 3, 2, 1, 1, 0, 0.25)               # rows 1, 2, 3, 10
CITY_BY_CATEGORY = {"equipment": 3, "process": 0, "site": 1, "management": 1, "fire": 2, "electrical": 1,
                    "hazchem": 1, "other": 1}
CITY_BY_INDUSTRY = {"hazchem": 6, "fireworks": 0, "non_coal_mine": 0, "industry_trade": 2, "none": 2}
OWN_BY_INDUSTRY = {"hazchem": 4, "fireworks": 0, "non_coal_mine": 0, "industry_trade": 2, "none": 1}
CITY_BY_CELL = [("G1", 4), ("G3", 3), ("G2", 2), (None, 1)]      # most first
# reported 2026-03-01..2026-05-31 (China): rows 2, 3, 6 (row 1 is 1 June in China)
SPRING = figures(3, 2, 2, 1, 0, 1, 0.0)
# trend on 2026-06-15, 24 months (2024-07 .. 2026-06): month -> (reported, closed); other months are zeros
TREND = {"2026-06": (2, 0), "2026-05": (1, 0), "2026-04": (1, 0), "2026-03": (1, 0), "2026-02": (1, 1),
         "2026-01": (1, 1), "2025-12": (1, 0), "2025-10": (0, 1), "2025-08": (1, 0), "2024-07": (0, 1)}
# open / overdue / listed hidden dangers per grid cell
HEAT = {"G1": (2, 1, 1), "G2": (1, 1, 0), "G3": (2, 1, 1)}


def insert(conn: sa.Connection) -> SimpleNamespace:
    """Insert :data:`ROWS` (after removing any hidden dangers already there); the enterprises and cells used."""
    def one(sql: str, **params: object) -> sa.Row:
        row = conn.execute(sa.text(sql), params).first()
        assert row is not None, (sql, params)
        return row

    enterprise_sql = ("SELECT uscc, ST_AsEWKT(geom) FROM enterprises WHERE district_code = :d AND sector = :s "
                      "AND uscc <> ALL(:not) ORDER BY id LIMIT 1")
    e1 = one(enterprise_sql, d=D1, s="hazchem", **{"not": []})
    e2 = one(enterprise_sql, d=D1, s="industry_trade", **{"not": [e1[0]]})
    e3 = one(enterprise_sql, d=D2, s="hazchem", **{"not": []})
    cell_sql = ("SELECT code, name, ST_AsEWKT(ST_PointOnSurface(geom)) FROM grid_cells WHERE district_code = :d "
                "AND code <> ALL(:not) ORDER BY code LIMIT 1")
    g1 = one(cell_sql, d=D1, **{"not": []})
    g2 = one(cell_sql, d=D1, **{"not": [g1[0]]})
    g3 = one(cell_sql, d=D2, **{"not": []})
    enterprises = {"E1": e1, "E2": e2, "E3": e3}
    cells = {"G1": g1, "G2": g2, "G3": g3}
    conn.execute(sa.text("DELETE FROM supervised_listings"))
    conn.execute(sa.text("DELETE FROM hidden_dangers"))
    for i, r in enumerate(ROWS, start=1):
        geom = cells[r.cell][2] if r.cell else enterprises[r.enterprise][1]  # type: ignore[index]
        conn.execute(sa.text(
            "INSERT INTO hidden_dangers (case_id, code, title, level, category, source, state, overdue, listed, "
            "due_date, reported_at, closed_at, enterprise_uscc, grid_cell_code, district_code, geom) VALUES "
            "(:case_id, :code, :title, :level, :category, :source, :state, :overdue, :listed, :due, :reported_at, "
            ":closed_at, :uscc, :cell, :district, ST_GeomFromEWKT(:geom))"),
            {"case_id": 900_000 + i, "code": r.code, "title": f"测试隐患{i}", "level": r.level, "category": r.category,
             "source": r.source, "state": r.state, "overdue": r.overdue, "listed": r.listed,
             "due": r.reported_at.date(), "reported_at": r.reported_at, "closed_at": r.closed_at,
             "uscc": enterprises[r.enterprise][0] if r.enterprise else None,
             "cell": cells[r.cell][0] if r.cell else None, "district": r.district, "geom": geom})
    return SimpleNamespace(uscc={k: v[0] for k, v in enterprises.items()},
                           cell={k: v[0] for k, v in cells.items()}, cell_name={k: v[1] for k, v in cells.items()})
