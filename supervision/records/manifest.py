"""Enterprise and hazard-source records: editing, history and import."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="records",
    label={"zh-CN": "企业与危险源档案", "en": "Enterprise and hazard-source records"},
    model_modules=("supervision.records.models",),
    requires=("access",),
)
