"""GB 18218-2018 major hazard source identification and grading (pure library, no Flask)."""

from supervision.hazard_sources.gb18218.grading import (
    Assessment,
    ChemicalLine,
    alpha_for_population,
    assess,
    grade_for_r,
    resolve_chemical,
)
from supervision.hazard_sources.gb18218.tables import CATEGORIES, TABLE1, list_table1_chemicals

__all__ = [
    "CATEGORIES",
    "TABLE1",
    "Assessment",
    "ChemicalLine",
    "alpha_for_population",
    "assess",
    "grade_for_r",
    "list_table1_chemicals",
    "resolve_chemical",
]
