"""Enterprise and hazard-source records: editing, history and import."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="records",
    label={"zh-CN": "企业与危险源档案", "en": "Enterprise and hazard-source records"},
    blueprints=("supervision.records.views:bp",),
    console_scripts=("supervision.records:static/console.js",),  # 编辑, 停用/启用, 变更历史, 申请变更, 新增企业, 导入
    realtime_topics=("record.",),
    model_modules=("supervision.records.models",),
    openapi="supervision.records:openapi.yaml",
    policy="supervision.records:policy.yaml",
    case_types=("supervision.records:cases/enterprise_change.yaml",),
    case_effects={"apply_enterprise_change": "supervision.records.changes:apply_change"},
    requires=("access", "hazard_sources"),
)
