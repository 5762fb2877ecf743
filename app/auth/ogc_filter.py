"""Scope for the parts of the OGC stack that take no SQL predicate: capabilities documents and MapProxy's tiles.

* Capabilities (WMS/WFS/WCS from MapServer) are rewritten to list only the layers and coverages the caller may
  read, so QGIS never offers a layer that would answer 403.
* MapProxy serves one shared cache for everybody, so it cannot filter rows: its ``mapproxy.authorize`` hook
  allows or denies each tile layer, and for a district-scoped caller clips every tile to the union of their
  districts (``limited_to``). A caller whose scope is an enterprise (a handful of points, not an area) gets no
  tiles of scoped layers; WMS GetMap filters those exactly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from lxml import etree

from app.auth.policy import Authz, Target
from app.auth.scope import DISTRICT_KEY

log = logging.getLogger(__name__)

# Comments go: MapServer writes notes for the administrator there (its version and build options, a warning for each
# hidden label layer, mapserver/labels.py), nothing a client needs.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                          remove_comments=True)
_NAME_CHILD = {"Layer": ("Name",), "FeatureType": ("Name",), "CoverageSummary": ("CoverageId", "Identifier"),
               "CoverageOfferingBrief": ("name",)}
# MapProxy's tile layers that are not registry layers: the basemap (public layers only) and the optional 天地图.
EXTERNAL_TILE_LAYERS = {"tianditu_vec": ()}
_FEATURES = {"tms": "tile", "wmts": "tile", "kml": "tile", "wmts.featureinfo": "featureinfo", "wms.map": "map",
             "wms.featureinfo": "featureinfo", "wms.legendgraphic": "legendgraphic", "wms.capabilities": "map"}


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _name_of(element: Any) -> str | None:
    for child in element:
        if _local(child.tag) in _NAME_CHILD[_local(element.tag)]:
            return (child.text or "").strip().rsplit(":", 1)[-1].lower()
    return None


def filter_capabilities(body: bytes, visible: set[str] | frozenset[str], *, everything: bool) -> bytes:
    """``body`` with every layer, feature type and coverage outside ``visible`` removed.

    A WMS group layer (one holding other layers, e.g. the map's root "onemap") is kept for its children, but its
    name is dropped unless the caller may read every layer: requesting it would draw them all.
    Raises ValueError if ``body`` is not XML (the gate then refuses rather than pass it on unfiltered).
    """
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"capabilities are not XML: {exc}") from None
    doomed, nameless = [], []
    for element in root.iter():
        tag = _local(element.tag)
        if tag not in _NAME_CHILD:
            continue
        name = _name_of(element)
        is_group = tag == "Layer" and any(_local(c.tag) == "Layer" for c in element)
        if is_group:
            if name is not None and not everything:
                nameless.append(element)
        elif name is not None and name not in visible:
            doomed.append(element)
    for element in doomed:
        element.getparent().remove(element)
    for element in nameless:
        for child in list(element):
            if _local(child.tag) == "Name":
                element.remove(child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


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

            from app.db import get_engine

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


__all__ = ["DistrictShapes", "MapProxyAuthorizer", "filter_capabilities"]
