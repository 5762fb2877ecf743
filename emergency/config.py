"""The ``emergency:`` configuration section (declared by emergency/manifest.py)."""

from __future__ import annotations

from typing import Any

from core.config import ConfigSection, SourceOf, section_object

SCHEMA = section_object({
    # Dispatch routing: how far (metres) a point may lie from the road network and still be routed.
    "snap_limit_m": {"type": "number", "minimum": 1, "maximum": 50_000},
    "max_snap_limit_m": {"type": "number", "minimum": 1, "maximum": 50_000},
})


def _check_snap_limits(config: dict[str, Any], source_of: SourceOf) -> list[str]:
    """The default snap limit must be one a caller may ask for."""
    conf = config["emergency"]
    if conf["snap_limit_m"] <= conf["max_snap_limit_m"]:
        return []
    path = ("emergency", "snap_limit_m")
    return [f"{source_of(path)}: emergency.snap_limit_m: {conf['snap_limit_m']:g} is greater than "
            f"emergency.max_snap_limit_m ({conf['max_snap_limit_m']:g})"]


SECTION = ConfigSection("emergency", SCHEMA, defaults="emergency:defaults.yaml",
                        env={"ONEMAP_SNAP_LIMIT_M": (("snap_limit_m",), float)}, checks=(_check_snap_limits,))
