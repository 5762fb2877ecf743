"""The OGC stack (pygeoapi, MapServer, MapProxy) as a plug-in area: its CLI and the processes it serves itself."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="ogc",
    label={"zh-CN": "OGC 服务", "en": "OGC services"},
    cli_groups=("mapserver.cli:tiles",),
    processes={"coordinate-convert": "mapserver.processes.coordinates.CoordinateConvertProcessor"},
    requires=("layers",),
)
