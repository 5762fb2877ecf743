"""备案登记: filing case types on the case engine and the hazard sources' filing status."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="filings",
    label={"zh-CN": "备案登记", "en": "Filings"},
    blueprints=("supervision.filings.views:bp",),
    panel_sections=("supervision.filings.console:register",),
    openapi="supervision.filings:openapi.yaml",
    policy="supervision.filings:policy.yaml",
    case_types=("supervision.filings:cases/hazard_source_filing.yaml",
                "supervision.filings:cases/emergency_plan_filing.yaml"),
    case_effects={"check_hazard_source_grading": "supervision.filings.grading:check_grading",
                  "record_hazard_source_filing": "supervision.filings.grading:record_filing",
                  "refresh_hazard_source_filing": "supervision.filings.grading:refresh_filing",
                  "check_emergency_plan_elements": "supervision.filings.plans:check_plan"},
    requires=("access", "cases", "hazard_sources", "permits"),
)
