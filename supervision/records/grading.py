"""GB 18218-2018 grading of a hazard source's inventory on save, through the hazard-source module's library.

The library (``supervision.hazard_sources.gb18218``) is the one the assessment API, the grading process and the demo
city use; records and hazard sources are parts of the same supervision package, so the library's public ``assess``
is called directly. The stored inventory keeps what the assessment API reads back: the substance's Chinese name and
CAS as the standard lists them, the quantity, and the critical quantity Q the grade was computed with.
"""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from supervision.hazard_sources.gb18218 import assess


def grade(specs: list[dict[str, Any]], exposed_population: int) -> dict[str, Any]:
    """Grade, S, R and the inventory lines to store; 400 naming the line for a substance the standard does not
    know, and naming ``chemicals`` when the inventory is below the thresholds (S < 1: not a major hazard source)."""
    result = assess(specs, exposed_population)
    if not result.is_major or result.grade is None:
        raise InvalidInput(
            "chemicals", "an inventory with S = Σ q/Q ≥ 1 (GB 18218-2018, 4.2)", value=round(result.s, 4),
            message_en=f"by GB 18218-2018 this inventory is not a major hazard source (S = {result.s:.4g} < 1); "
                       "correct the quantities, or deactivate the record",
            message_zh=f"按 GB 18218-2018，该储存量不构成重大危险源（S = {result.s:.4g} < 1）；请核对储存量，或核销该危险源",
            details={"reason": "not a major hazard source", "s_value": result.s})
    lines = [{"chemical_name": line.name_zh, "cas": line.cas, "quantity_t": line.quantity_t,
              "critical_quantity_t": line.critical_quantity_t} for line in result.chemicals]
    return {"grade": int(result.grade), "s_value": float(result.s), "r_value": float(result.r), "chemicals": lines}


def specs_of(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The library's input for stored inventory lines: by CAS where recorded, else by name."""
    return [{**({"cas": c["cas"]} if c["cas"] else {"name": c["chemical_name"]}), "quantity_t": float(c["quantity_t"])}
            for c in stored]


def lines(stored: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Comparable form of inventory lines (did the inventory change?)."""
    return [(c["chemical_name"], c["cas"], float(c["quantity_t"])) for c in stored]


__all__ = ["grade", "lines", "specs_of"]
