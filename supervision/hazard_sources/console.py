"""The hazard source's section in the console's feature panel: its chemical inventory with q/Q per GB 18218.

Registered through :func:`core.panels.register_panel_section` (declared in the manifest). The chemicals belong to
the hazard source itself and are no layer of their own, so the feature's own scope check is all they need.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from core.panels import PanelContext, register_panel_section, table


def hazard_source_chemicals(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    # q/Q is the ratio GB 18218 sums into S; the largest terms are what an inspector checks first.
    rows = ctx.conn.execute(text(
        "SELECT c.chemical_name, c.cas, c.quantity_t, c.critical_quantity_t, "
        "round((c.quantity_t / c.critical_quantity_t)::numeric, 3) AS q_over_q "
        "FROM hazard_source_chemicals c JOIN hazard_sources h ON h.code = c.hazard_source_code "
        "WHERE h.id = :id ORDER BY c.quantity_t / c.critical_quantity_t DESC"), {"id": feature_id}).mappings()
    return table([("chemical_name", "危险化学品", "Chemical"), ("cas", "CAS号", "CAS"),
                  ("quantity_t", "最大储存量(吨)", "Max. stored (t)"),
                  ("critical_quantity_t", "临界量(吨)", "Critical quantity (t)"), ("q_over_q", "q/Q", "q/Q")], rows)


def register() -> None:
    register_panel_section("hazard_sources", "chemicals", "危险化学品", "Chemicals", hazard_source_chemicals,
                           order=10)
