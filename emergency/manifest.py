"""The emergency module: resources, incidents, dispatch and routing, consequence models."""

from core.manifest import Manifest
from emergency.events import EVENT_TYPES

MANIFEST = Manifest(
    name="emergency",
    label={"zh-CN": "应急指挥", "en": "Emergency command"},
    blueprints=("emergency.views:bp",),
    panel_sections=("emergency.console:register",),
    console_scripts=("emergency:static/console.js",),  # its panel buttons, intake and nearest resources
    realtime_topics=tuple(EVENT_TYPES),
    model_modules=("emergency.models",),
    processes={
        "gaussian-plume": "emergency.processes.GaussianPlumeProcessor",
        "vce-overpressure": "emergency.processes.VceOverpressureProcessor",
    },
    config="emergency.config:SECTION",
    openapi="emergency.apidoc:document",
    policy="emergency:policy.yaml",
    demo_loader="emergency.plans.demo:load_demo",  # the demo city's emergency plans
    requires=("access",),
)
