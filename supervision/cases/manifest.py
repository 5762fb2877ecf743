"""The case engine module: case-type loading, the engine's tables, its API, work lists and the timer worker."""

from core.manifest import Manifest
from supervision.cases.engine import EVENT_TYPES

MANIFEST = Manifest(
    name="cases",
    label={"zh-CN": "案件办理", "en": "Cases"},
    blueprints=("supervision.cases.views:bp",),
    realtime_topics=EVENT_TYPES,
    model_modules=("supervision.cases.models",),
    config="supervision.cases.config:SECTION",
    openapi="supervision.cases:openapi.yaml",
    policy="supervision.cases:policy.yaml",
    config_checks=("supervision.cases.checks:check_case_types",),
    background=("supervision.cases.scheduler:background",),
    requires=("access", "kernel"),
)
