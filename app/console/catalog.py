"""What the console draws: the registry's layers, how each is fetched, and its compiled OpenLayers style.

How a layer reaches the browser is decided here, from the registry, never per layer in JavaScript:

* ``mvt`` — layers that declare ``tiles.mvt`` (enterprises: 5,000 in the demo city, 100,000 at scale 20);
* ``geojson`` — other point layers (incidents, resources, sensors, hazard sources): small and live, fetched from
  OGC API Features for the visible extent (bbox strategy), so a new incident shows on the next refresh;
* ``raster`` — lines and polygons with ``tiles.raster`` (districts, roads, grid cells…): MapProxy WMTS tiles;
  a click on them is answered by ``/api/console/identify`` on the server.

The catalogue lists only the layers the caller may read (and the basemap): a layer the console would draw but
the services refuse is a broken promise, and a role's catalogue is what its console shows.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from access.policy.rowscope import LayerAccess
from layers.registry import GROUP_TITLES, Layer, default_registry
from styles import default_styles
from styles.openlayers import compile_all

GEOMETRY_RANK = {"MultiPolygon": 0, "Polygon": 0, "MultiLineString": 1, "LineString": 1, "Point": 2, "MultiPoint": 2}
GROUP_ORDER = list(GROUP_TITLES)
# The MapProxy grids (mapserver/mapproxy_config.py GRIDS) by the console's view projection.
GRID_BY_PROJECTION = {"EPSG:3857": "webmercator", "EPSG:4490": "cgcs2000"}


def render_kind(layer: Layer) -> str:
    if layer.mvt:
        return "mvt"
    if layer.geometry in ("Point", "MultiPoint") or not layer.raster_tiles:
        return "geojson"
    return "raster"


def title_field(layer: Layer) -> str | None:
    """The field that names a feature (what a list or panel header shows)."""
    for name in ("name", "title", "code"):
        if name in layer.field_names:
            return name
    return None


@cache
def _styles() -> dict[str, dict[str, Any]]:
    return compile_all(default_registry(), default_styles())


def layer_entry(layer: Layer, root: str) -> dict[str, Any]:
    kind = render_kind(layer)
    style = _styles()[layer.id]
    entry: dict[str, Any] = {
        "id": layer.id,
        "title": {"zh-CN": layer.title_zh, "en": layer.title_en},
        "group": layer.group,
        "geometry": layer.geometry,
        "render": kind,
        "minZoom": style["minZoom"],
        "maxZoom": style["maxZoom"],
        "opacity": style["opacity"],
        # console: in the layer file: shown on opening, re-read on live events, ticked in the query tool, on the
        # large screen
        "visible": layer.console.visible,
        "live": layer.console.live,
        "query": layer.console.query,
        "screen": layer.console.screen,
        "zIndex": 10 + GEOMETRY_RANK.get(layer.geometry, 2) * 100 + GROUP_ORDER.index(layer.group),
        "titleField": title_field(layer),
        "fields": [{"name": f.name, "label": {"zh-CN": f.label, "en": f.label_en}} for f in layer.fields],
        "dispatch": {"kind": layer.dispatch.kind, "label": {"zh-CN": layer.dispatch.label_zh,
                                                            "en": layer.dispatch.label_en}} if layer.dispatch else None,
        "style": style,
        "urls": {"items": f"{root}ogcapi/collections/{layer.id}/items?f=json&limit=10000&offset=0"},
    }
    if kind == "mvt":
        entry["urls"]["mvt"] = f"{root}ogcapi/collections/{layer.id}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt"
    if layer.raster_tiles:
        # {grid} is filled in by the console with the grid matching its view projection
        entry["urls"]["raster"] = f"{root}tiles/wmts/{layer.id}/{{grid}}/{{z}}/{{x}}/{{y}}.png"
    return entry


def basemap_entry(root: str) -> dict[str, Any]:
    return {
        "id": "basemap",
        "title": {"zh-CN": "示范市底图", "en": "City basemap"},
        "group": "basemap",
        "geometry": "raster",
        "render": "raster",
        "minZoom": 0,
        "maxZoom": 20,
        "opacity": 1.0,
        "visible": True,
        "live": False,
        "query": False,
        "screen": True,
        "zIndex": 0,
        "titleField": None,
        "fields": [],
        "dispatch": None,
        "style": None,
        "urls": {"raster": f"{root}tiles/wmts/basemap/{{grid}}/{{z}}/{{x}}/{{y}}.png"},
    }


def console_catalog(root: str = "/", *, access: LayerAccess) -> dict[str, Any]:
    """Groups (in registry group order) with the layers the caller may read, the basemap first; JSON-ready."""
    registry = default_registry()
    groups = []
    for key, titles in GROUP_TITLES.items():
        layers = [layer_entry(layer, root) for layer in registry if layer.group == key and access.can(layer.id)]
        if key == "basemap":
            layers.insert(0, basemap_entry(root))
        if layers:
            groups.append({"id": key, "title": titles, "layers": layers})
    # Every kind the dispatcher can send, in dispatch order, whether or not the caller reads its layer: the
    # nearest-resources API answers per kind within the caller's scope.
    kinds = [{"kind": kind, "layer": layer.id, "label": {"zh-CN": layer.dispatch.label_zh,  # type: ignore[union-attr]
                                                         "en": layer.dispatch.label_en}}  # type: ignore[union-attr]
             for kind, layer in registry.dispatchable.items()]
    return {"groups": groups, "grids": GRID_BY_PROJECTION, "resourceKinds": kinds}
