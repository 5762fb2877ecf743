"""The hazard source module's OGC API process: ``hazard-source-grading`` (GB 18218-2018 identification and grading
of the chemicals a caller supplies; no stored data is read). Declared in ``supervision/hazard_sources/manifest.py``.
"""

from __future__ import annotations

from typing import Any

from mapserver.processes.base import JsonProcessor, describe, input_spec, number_input
from supervision.hazard_sources.gb18218 import CATEGORIES, TABLE1, assess

__all__ = ["GRADING_METADATA", "HazardSourceGradingProcessor"]

_CATEGORY_SCHEMA = {"oneOf": [{"type": "string", "enum": list(CATEGORIES)},
                              {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}}]}

# fmt: off
GRADING_METADATA = describe(
    "hazard-source-grading", "Major hazard source identification and grading (GB 18218-2018)", "危险化学品重大危险源辨识与分级",
    "S = Σq/Q (S ≥ 1 → major hazard source); R = α·Σβ·q/Q; grade 1–4 by Table 6, null when not major. Each chemical "
    "by CAS, Chinese/English name or table1_no (Table 1, 85 substances), or by Table 2 category code(s). The rules "
    "applied where the standard leaves a choice are returned in 'rules'; an unknown CAS is answered with close matches.",
    {
        "chemicals": input_spec("Chemicals in the unit", "1–500 items {cas | name | table1_no | category, quantity_t}.", {
            "type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "object", "required": ["quantity_t"],
            "properties": {"cas": {"type": "string", "pattern": r"^\d{2,7}-\d{2}-\d$"}, "name": {"type": "string"},
                           "table1_no": {"type": "integer", "minimum": 1, "maximum": len(TABLE1)},
                           "category": _CATEGORY_SCHEMA,
                           "quantity_t": {"type": "number", "minimum": 0, "maximum": 1e7, "description": "tonnes"}}}},
            req=True),
        "exposed_population": number_input("Exposed persons", "persons", 0, 10_000_000, integer=True, req=True,
                                 desc="Residents within 500 m of the site boundary (Table 5 α)."),
    },
    {"chemicals": [{"cas": "7782-50-5", "quantity_t": 20}, {"name": "液氨", "quantity_t": 5}], "exposed_population": 120},
)
# fmt: on


class HazardSourceGradingProcessor(JsonProcessor):
    """hazard-source-grading: GB 18218-2018 identification (S) and grading (R, grade 1–4)."""

    metadata_template = GRADING_METADATA

    def _compute(self, data: dict[str, Any]) -> Any:
        return assess(data["chemicals"], int(data["exposed_population"])).to_dict()
