"""隐患排查治理 and 挂牌督办: case types, statistics and map layers of hidden dangers."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="hidden_dangers",
    label={"zh-CN": "隐患排查治理", "en": "Hidden dangers"},
    requires=("access", "cases"),
)
