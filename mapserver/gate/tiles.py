"""The gate's adapter for ``/tiles`` (MapProxy), which serves one shared cache for everybody and so cannot filter rows.

Its ``mapproxy.authorize`` hook allows or denies each tile layer, and for a district-scoped caller clips every tile
to the union of their districts (``limited_to``). A caller whose scope is an enterprise (a handful of points, not an
area) gets no tiles of scoped layers; WMS GetMap filters those exactly. MapProxy authorises only when the hook is
present, so the tile app is wrapped to serve nothing without it (:func:`require_authorize`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from access.policy.classify import Access, Classified
from access.policy.mounts import Audit, Mount, Refusal
from access.policy.refusal import respond
from access.policy.rules import Authz, Policy, Target
from core.scope import DISTRICT_KEY
from mapserver.gate.ows import reject_reserved
from mapserver.owscheck import RequestProblem, exception_body

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# MapProxy's tile layers that are not registry layers: the basemap (public layers only) and the optional 天地图.
EXTERNAL_TILE_LAYERS = {"tianditu_vec": ()}
_FEATURES = {"tms": "tile", "wmts": "tile", "kml": "tile", "wmts.featureinfo": "featureinfo", "wms.map": "map",
             "wms.featureinfo": "featureinfo", "wms.legendgraphic": "legendgraphic", "wms.capabilities": "map"}


class DistrictShapes:
    """District boundaries (EPSG:4490, lon/lat) by GB/T 2260 code, read once from the database and cached.

    Without settings (no database) every lookup is None, which denies scoped tiles: closed, not open.
    """

    def __init__(self, settings: dict[str, Any] | None) -> None:
        self.settings = settings
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, codes: frozenset[str]) -> Any:
        import shapely

        missing = [c for c in codes if c not in self._cache]
        if missing:
            self._load(missing)
        shapes = [self._cache[c] for c in sorted(codes) if self._cache.get(c) is not None]
        return shapely.union_all(shapes) if shapes else None

    def _load(self, codes: list[str]) -> None:
        found: dict[str, Any] = {}
        if self.settings is not None:
            import shapely.wkb
            from sqlalchemy import text

            from core.db import get_engine

            table, column = DISTRICT_KEY.split(".")
            sql = (f'SELECT "{column}", ST_AsBinary(ST_Force2D(geom)) FROM public."{table}" '
                   f'WHERE "{column}" = ANY(CAST(:codes AS text[]))')
            with get_engine(self.settings).connect() as conn:
                for code, wkb in conn.execute(text(sql), {"codes": codes}):
                    found[code] = shapely.wkb.loads(bytes(wkb))
        with self._lock:
            for code in codes:
                self._cache[code] = found.get(code)


class MapProxyAuthorizer:
    """MapProxy's ``mapproxy.authorize`` hook for one request, answering from the request's :class:`Authz`."""

    def __init__(self, authz: Authz, shapes: Callable[[frozenset[str]], Any],
                 audit: Callable[..., None]) -> None:
        self.authz, self.shapes, self._audit = authz, shapes, audit

    def _sources(self, name: str) -> tuple[str, ...] | None:
        from layers.registry import default_registry

        if name == "basemap":
            return tuple(default_registry().basemap_layers)
        if name in EXTERNAL_TILE_LAYERS:
            return EXTERNAL_TILE_LAYERS[name]
        return (name,) if name in self.authz.policy.layer_access else None

    def permissions(self, name: str) -> dict[str, Any] | None:
        """MapProxy permissions for tile layer ``name``, or None if the caller may not see it."""
        sources = self._sources(name)
        if sources is None:
            return None
        districts: set[str] | None = None
        for layer in sources:
            decision = self.authz.decide("read", Target("layer", layer))
            if not decision.allowed:
                return None
            if decision.scope.all:
                continue
            if not decision.scope.districts:
                return None  # an enterprise scope is no area: those rows are only served by WMS/WFS/OGC API
            districts = set(decision.scope.districts) if districts is None else districts & decision.scope.districts
        perms: dict[str, Any] = {"tile": True, "map": True, "featureinfo": True, "legendgraphic": True}
        if districts is not None:
            geometry = self.shapes(frozenset(districts)) if districts else None
            if geometry is None:
                return None
            perms["limited_to"] = {"geometry": geometry, "srs": "EPSG:4490"}
        return perms

    def __call__(self, service: str, layers: list[str], environ: Any = None, query_extent: Any = None,
                 **_: Any) -> dict[str, Any]:
        allowed: dict[str, Any] = {}
        denied = False
        if service in _FEATURES:
            for entry in layers:
                # MapProxy's TMS capabilities (layers with grid names) ask for (layer, grid) keys and then look the
                # answer up by layer name: answer by name, or every caller gets 403
                name = entry[0] if isinstance(entry, tuple) else entry
                perms = self.permissions(name)
                if perms is not None:
                    allowed[name] = perms
                elif query_extent is not None:  # a tile or map was asked for, not a capabilities listing
                    denied = True
                    self._audit("access_denied", target=f"tiles:{name}", action="read", service=service)
        anonymous = not self.authz.identity.authenticated
        if not allowed or (denied and anonymous):
            return {"authorized": "unauthenticated" if anonymous else "none"}
        return {"authorized": "partial", "layers": allowed}


class TilesMount(Mount):
    prefix = "/tiles"

    def __init__(self, district_shapes: Callable[[frozenset[str]], Any]) -> None:
        self.district_shapes = district_shapes

    def classify(self, environ: dict[str, Any], rest: str, policy: Policy) -> Classified:
        # MapProxy passes WMS parameters on to mapserv: the same keys are reserved for the gate as on /ows
        reject_reserved(parse_qsl(environ.get("QUERY_STRING", "") or "", keep_blank_values=True), "WMTS", None)
        return Classified("tiles", [Access("read", Target("service", "tiles"))], service="WMTS")

    def prepare(self, environ: dict[str, Any], c: Classified, authz: Authz, audit: Audit) -> Refusal | None:
        environ["mapproxy.authorize"] = MapProxyAuthorizer(authz, self.district_shapes, audit)
        return None

    def refusal_body(self, refusal: Refusal, surface: str) -> tuple[bytes, str]:
        return exception_body(RequestProblem(refusal.status, refusal.code, refusal.locator, refusal.message_en,
                                             "WMTS", "1.0.0"))


def require_authorize(app: WSGIApp) -> WSGIApp:
    """Wrap MapProxy so that it serves nothing unless the policy gate installed its ``mapproxy.authorize`` hook.

    MapProxy authorises only when the hook is present; without this wrapper a MapProxy reached without the gate
    (a mis-mounted app, a test, a second server) would serve every layer to everybody.
    """
    mount = TilesMount(DistrictShapes(None))

    def closed(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if callable(environ.get("mapproxy.authorize")):
            return app(environ, start_response)
        log.error("tile request without the policy gate's authorisation hook refused: %s", environ.get("PATH_INFO"))
        refusal = Refusal(403, "Forbidden", "the tile service serves nothing without its authorisation policy",
                          "瓦片服务未加载授权策略，拒绝访问")
        return respond(start_response, environ, refusal, mount=mount, surface="tiles")

    return closed


__all__ = ["DistrictShapes", "MapProxyAuthorizer", "TilesMount", "require_authorize"]
