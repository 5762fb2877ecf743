"""The OGC stack (pygeoapi, MapServer, MapProxy) as a plug-in area: its CLI and the processes it serves itself."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="ogc",
    label={"zh-CN": "OGC 服务", "en": "OGC services"},
    cli_groups=("mapserver.cli:tiles",),
    processes={
        "coordinate-convert": "mapserver.processes.safety.CoordinateConvertProcessor",
        "hazard-source-grading": "mapserver.processes.safety.HazardSourceGradingProcessor",
        "gaussian-plume": "mapserver.processes.safety.GaussianPlumeProcessor",
        "vce-overpressure": "mapserver.processes.safety.VceOverpressureProcessor",
    },
    requires=("layers",),
)
