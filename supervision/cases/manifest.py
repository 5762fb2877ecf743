"""The case engine module: case-type loading, the engine's tables, its API, work lists and the timer worker."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="cases",
    label={"zh-CN": "案件办理", "en": "Cases"},
    blueprints=("supervision.cases.pages:pages_bp",),  # the pages /cases and /cases/<id>
    panel_sections=("supervision.cases.console:register",),
    console_scripts=("supervision.cases:static/console.js",),  # 待办 badge, 发起, 隐患上报 (serves static/ too)
    policy="supervision.cases:policy.yaml",
    requires=("access",),
)
