"""What the policy gate needs to know about the OGC services OneMap mounts, as adapters it is handed.

``access/`` decides who may do what and knows no OGC software; these adapters (:class:`access.policy.mounts.Mount`)
tell it how pygeoapi, MapServer and MapProxy read a request, take the caller's scope, and say no.
"""

from __future__ import annotations

from typing import Any

from access.policy.mounts import Mount


def gate_mounts(settings: dict[str, Any] | None) -> list[Mount]:
    """The adapters of ``/ogcapi``, ``/ows`` and ``/tiles`` (``settings``: the database of the district shapes
    that clip scoped tiles; without it scoped tiles are refused)."""
    from mapserver.gate.ogcapi import OgcApiMount
    from mapserver.gate.ows import OwsMount
    from mapserver.gate.tiles import DistrictShapes, TilesMount

    return [OgcApiMount(), OwsMount(), TilesMount(DistrictShapes(settings))]


__all__ = ["gate_mounts"]
