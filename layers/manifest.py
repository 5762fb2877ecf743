"""The layer registry as a plug-in area: its configuration check."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="layers",
    label={"zh-CN": "图层目录", "en": "Layer registry"},
    config_checks=("layers.registry:check_config",),
)
