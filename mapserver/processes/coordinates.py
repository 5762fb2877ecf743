"""The OGC stack's own process: datum conversion between WGS-84/CGCS2000, GCJ-02 and BD-09 (``coordinate-convert``).

Web-map pickers give GCJ-02 or BD-09 coordinates; every other process takes EPSG:4490, so clients convert first.
Declared in ``mapserver/manifest.py``.
"""

from __future__ import annotations

from typing import Any

from core.geo.coords import convert_points
from mapserver.processes.base import JsonProcessor, describe, enum_input, input_spec

__all__ = ["COORDS_METADATA", "CoordinateConvertProcessor"]

_SYSTEMS = ["wgs84", "cgcs2000", "gcj02", "bd09"]

# fmt: off
COORDS_METADATA = describe(
    "coordinate-convert", "Coordinate conversion WGS-84/CGCS2000 ↔ GCJ-02 ↔ BD-09", "坐标转换",
    "Public GCJ-02 algorithm (Krasovsky a = 6378245.0, e² = 0.00669342162296594323); inverses solved by iteration, "
    "error < 1 mm (far under 0.5 m). 'cgcs2000' is accepted as an alias of 'wgs84' (they differ by centimetres). "
    "Points outside China's rectangle (72.004–137.8347°E, 0.8293–55.8271°N) come back unchanged.",
    {
        "from": enum_input("From", _SYSTEMS, req=True, desc="cgcs2000 = alias of wgs84."),
        "to": enum_input("To", _SYSTEMS, req=True, desc="cgcs2000 = alias of wgs84."),
        "points": input_spec("Points", "[[lng, lat], ...], 1–100000 points.", {
            "type": "array", "minItems": 1, "maxItems": 100_000,
            "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}}},
            unit="degrees", req=True),
    },
    {"from": "gcj02", "to": "wgs84", "points": [[116.404, 39.915]]},
)
# fmt: on


class CoordinateConvertProcessor(JsonProcessor):
    """coordinate-convert: WGS-84/CGCS2000 ↔ GCJ-02 ↔ BD-09."""

    metadata_template = COORDS_METADATA

    def _compute(self, data: dict[str, Any]) -> Any:
        points = convert_points(data["points"], data["from"], data["to"])
        return {"from": data["from"], "to": data["to"], "points": [[lng, lat] for lng, lat in points]}
