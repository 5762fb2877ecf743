"""Two changes to MapProxy: its TMS capabilities list every grid of each layer a caller may see, and its
``mapserver`` sources render through the kept-running ``mapserv`` processes of mapserver/fcgi.py.

Tiles: MapProxy's ``CGIClient`` starts the CGI binary for every render (about 70 ms, plus 150 ms to load the CJK
font of a labelled layer). For the wrapper scripts registered with :func:`register_mapserv` (the generated
``mapserv.sh``), a render goes to a pool of FastCGI ``mapserv`` instead, with the same clean environment and deadline
the wrapper gives; any other script still runs as CGI.

TMS capabilities:
With ``use_grid_names`` (one tile layer per layer and grid, keyed ``(name, grid)``), MapProxy 1.16/2.x asks the
``mapproxy.authorize`` hook about those keys but then rebuilds the list keyed by layer *name*, so every layer
kept only its last grid (``/tiles/tms/1.0.0/`` listed ``districts/cgcs2000`` and not ``districts/webmercator``).
This version keeps MapProxy's own keys; the hook answers by layer name (``mapserver.gate.tiles``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)


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


_POOLS: dict[str, tuple[Any, float]] = {}  # the wrapper script's real path -> (fcgi.Pool, deadline in s)
_POOLS_LOCK = threading.Lock()


def register_mapserv(script: Path, conf: Path, *, timeout: float, processes: int = 2) -> Any:
    """Renders MapProxy would run through ``script`` go to a pool of ``mapserv`` under FastCGI (its pool)."""
    from mapserver import fcgi
    from mapserver.mapfile import MAPSERV

    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MAPSERVER_CONFIG_FILE": str(conf)}
    pool = fcgi.Pool([str(MAPSERV)], env, size=processes)
    with _POOLS_LOCK:
        previous = _POOLS.get(os.path.realpath(script))
        _POOLS[os.path.realpath(script)] = (pool, timeout)
    if previous is not None:
        previous[0].close()
    return pool


def cgi_open(self: Any, url: str, data: Any = None) -> Any:
    """``mapproxy.client.cgi.CGIClient.open`` through a registered pool (the original for other scripts)."""
    from mapproxy.client.cgi import IOwithHeaders, split_cgi_response
    from mapproxy.client.http import HTTPClientError
    from mapproxy.client.log import log_request
    from mapproxy.source import SourceError

    from mapserver import fcgi

    with _POOLS_LOCK:
        registered = _POOLS.get(os.path.realpath(self.script))
    if registered is None:
        return _ORIGINAL_OPEN(self, url, data)
    pool, timeout = registered
    assert data is None, "POST requests not supported by CGIClient"
    query = urlparse(url).query
    params = {**pool.env, "QUERY_STRING": query, "REQUEST_METHOD": "GET", "GATEWAY_INTERFACE": "CGI/1.1",
              "SERVER_NAME": "localhost", "SERVER_PROTOCOL": "HTTP/1.0", "SERVER_SOFTWARE": "MapProxy"}
    started = time.time()
    try:
        run = fcgi.Exchange(pool, params, b"", timeout)
    except fcgi.WorkerGone as exc:
        raise SourceError(str(exc)) from None
    chunks = []
    try:
        while chunk := run.read():
            chunks.append(chunk)
        answered = run.complete and not run.timed_out
    finally:
        run.finish()
    if run.stderr:
        log.info("mapserv stderr: %s", run.stderr.decode("utf-8", "replace").strip()[:2000])
    if not answered:
        raise HTTPClientError("Error during CGI call (%s)" % (
            f"no answer within {timeout:g} s" if run.timed_out else "mapserv ended without an answer"))
    headers, content = split_cgi_response(b"".join(chunks))
    status = headers.get("Status", "")[:3] or "-"
    log_request(f"{self.script}:{query}", status, size=len(content), method="FCGI", duration=time.time() - started)
    from io import BytesIO

    return IOwithHeaders(BytesIO(content), headers)


_ORIGINAL_OPEN: Any = None


def install() -> None:
    """Idempotent; called by the /tiles app factory."""
    global _ORIGINAL_OPEN
    from mapproxy.client.cgi import CGIClient
    from mapproxy.service.tile import TileServer

    TileServer.authorized_tile_layers = authorized_tile_layers
    if _ORIGINAL_OPEN is None:
        _ORIGINAL_OPEN = CGIClient.open
        CGIClient.open = cgi_open
