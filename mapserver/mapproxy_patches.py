"""Make MapProxy's TMS capabilities list every grid of each layer a caller may see.

With ``use_grid_names`` (one tile layer per layer and grid, keyed ``(name, grid)``), MapProxy 1.16/2.x asks the
``mapproxy.authorize`` hook about those keys but then rebuilds the list keyed by layer *name*, so every layer
kept only its last grid (``/tiles/tms/1.0.0/`` listed ``districts/cgcs2000`` and not ``districts/webmercator``).
This version keeps MapProxy's own keys; the hook answers by layer name (``mapserver.gate.tiles``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


def authorized_tile_layers(self: Any, env: dict[str, Any]) -> Any:
    """Same contract as ``mapproxy.service.tile.TileServer.authorized_tile_layers``."""
    from mapproxy.exception import RequestError

    if "mapproxy.authorize" not in env:
        return self.layers
    result = env["mapproxy.authorize"]("tms", list(self.layers), query_extent=None, environ=env)
    if result["authorized"] == "unauthenticated":
        raise RequestError("unauthorized", status=401)
    if result["authorized"] == "full":
        return self.layers
    if result["authorized"] == "none":
        raise RequestError("forbidden", status=403)
    return OrderedDict((key, layer) for key, layer in self.layers.items()
                       if result["layers"].get(layer.name, {}).get("tile", False) is True)


def install() -> None:
    """Idempotent; called by the /tiles app factory."""
    from mapproxy.service.tile import TileServer

    TileServer.authorized_tile_layers = authorized_tile_layers
