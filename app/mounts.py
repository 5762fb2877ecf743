"""Mount the OGC services (pygeoapi, MapServer, MapProxy) beside the Flask app in one WSGI application."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from core.yamlload import parse

log = logging.getLogger(__name__)


def mount_services(app: Flask, settings: dict[str, Any]) -> None:
    """``/ogcapi`` pygeoapi, ``/ows`` MapServer, ``/tiles`` MapProxy — configured from files generated from the
    layer registry (rebuilt here when their inputs changed).

    The dispatcher declares, as ``gate_mounts``, the adapters through which the policy gate and the authentication
    middleware wrapped around it read, scope and refuse requests to each mount (``mapserver.gate``)."""
    from mapserver.build import ensure_built
    from mapserver.gate import gate_mounts
    from mapserver.gate.tiles import require_authorize
    from mapserver.mapproxy_config import make_tiles_app
    from mapserver.ogcapi import make_ogcapi_app
    from mapserver.ows import make_ows_app
    from mapserver.public_base import Advertise

    files = ensure_built(settings)

    def load(key: str) -> dict[str, Any]:
        return parse(files[key].read_text(encoding="utf-8"))

    mounts = {
        "/ogcapi": make_ogcapi_app(load("pygeoapi.pygeoapi"), load("pygeoapi.openapi")),
        # as many mapserv kept running as requests can run at once in this web worker
        "/ows": make_ows_app(files["mapserver.mapfile"], files["mapserver.mapserver_conf"],
                             sld_dir=files["mapserver.sld_dir"], processes=settings["server"]["threads"]),
        # closed unless the policy gate installed MapProxy's authorisation hook for the request
        "/tiles": require_authorize(make_tiles_app(
            files["mapproxy.mapproxy"], mapserver_conf=files["mapserver.mapserver_conf"],
            processes=settings["server"]["threads"])),
    }
    app.extensions["onemap.mounts"] = mounts  # what is served where (route inventories, tests)
    # each mount advertises the request's public base: server.public_url, else a trusted proxy's forwarded
    # address, else the Host the client addressed (never the port or host the files were generated with)
    public_url = settings["server"].get("public_url")
    trusted = settings.get("auth", {}).get("trusted_proxies", [])
    mounts = {path: Advertise(mount, path, public_url=public_url, trusted=trusted) for path, mount in mounts.items()}
    dispatcher = DispatcherMiddleware(app.wsgi_app, mounts)
    adapters = gate_mounts(settings)
    if {m.prefix for m in adapters} != set(mounts):  # a mount without an adapter would be read as a Flask route
        raise RuntimeError(f"gate adapters {sorted(m.prefix for m in adapters)} do not match mounts {sorted(mounts)}")
    app.extensions["onemap.gate_mounts"] = adapters
    app.wsgi_app = dispatcher  # type: ignore[method-assign]
