"""The hazard source module: GB 18218-2018 grading of stored major hazard sources, as API, panel and OGC process."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="hazard_sources",
    label={"zh-CN": "重大危险源", "en": "Major hazard sources"},
    blueprints=("supervision.hazard_sources.views:bp",),
    panel_sections=("supervision.hazard_sources.console:register",),
    processes={"hazard-source-grading": "supervision.hazard_sources.processes.HazardSourceGradingProcessor"},
    openapi="supervision.hazard_sources:openapi.yaml",
    policy="supervision.hazard_sources:policy.yaml",
    requires=("access",),
)
