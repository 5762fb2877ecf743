"""The hazard source's 备案 section in the console's feature panel: its filing status, latest filing and the one
under way (registered through :func:`core.panels.register_panel_section`, declared in the manifest). The filings are
the hazard source's own (anchored to it), so the feature's scope check is all they need."""

from __future__ import annotations

from typing import Any

from core.panels import PanelContext, register_panel_section
from supervision.filings import status


def hazard_source_filing(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    found = status.of(ctx.conn, str(ctx.attributes.get("code")))
    filing = found["filing"] or {}
    pending = found["pending"] or {}
    items = [({"zh-CN": "备案状态", "en": "Filing status"}, found["status_label"][ctx.lang if ctx.lang == "en"
                                                                               else "zh-CN"]),
             ({"zh-CN": "备案编号", "en": "Filing number"}, filing.get("number")),
             ({"zh-CN": "备案日期", "en": "Filed on"}, filing.get("filed_on")),
             ({"zh-CN": "有效期至", "en": "Valid to"}, filing.get("valid_to")),
             ({"zh-CN": "办理中的备案", "en": "Filing under way"}, pending.get("code"))]
    return {"kind": "fields", "items": [{"label": label, "value": value} for label, value in items]}


def register() -> None:
    register_panel_section("hazard_sources", "filing", "备案", "Filing", hazard_source_filing, order=20)
