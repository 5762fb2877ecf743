"""The case engine module: case-type loading, the engine's tables, its API, work lists and the timer worker."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="cases",
    label={"zh-CN": "案件办理", "en": "Cases"},
    requires=("access",),
)
