"""Make pygeoapi reuse pyproj transformers instead of building one per request, and translate per configuration.

pygeoapi creates a ``pyproj.Transformer`` for every items request (once for the bbox, once for the output CRS).
Building a CRS84 → CGCS2000 transformer costs ~0.3 s here (PROJ searches its database for operations), so each
items request took 0.6–0.8 s whatever its size. The transformers are immutable and thread-safe (pyproj ≥ 3.1), so
one per (source, target, axis rule) is cached for the life of the process.

pygeoapi caches the translated configuration its HTML templates get per *locale* only, whichever configuration it
was: the first page rendered in a language fixes the links (server.url) and the collections of every later page in
that language. OneMap renders with a view per public base (mapserver/ogcapi.py) and per caller, so the cache is
keyed by the configuration's URL and collections too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache, partial
from typing import Any

import pyproj
from shapely import ops


@lru_cache(maxsize=256)
def cached_transformer(crs_in: pyproj.CRS, crs_out: pyproj.CRS, always_xy: bool = False) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(crs_in, crs_out, always_xy=always_xy)


def get_transform_from_crs(crs_in: pyproj.CRS, crs_out: pyproj.CRS, always_xy: bool = False):  # noqa: ANN201
    """Same contract as ``pygeoapi.crs.get_transform_from_crs``."""
    return partial(ops.transform, cached_transformer(crs_in, crs_out, always_xy).transform)


def transform_bbox(bbox: list, from_crs: str | pyproj.CRS, to_crs: str | pyproj.CRS, always_xy: bool = False) -> list:
    """Same contract as ``pygeoapi.crs.transform_bbox`` (including its Web Mercator latitude clip)."""
    from pygeoapi.crs import get_crs

    crs_from, crs_to = get_crs(from_crs), get_crs(to_crs)
    transform = cached_transformer(crs_from, crs_to, always_xy).transform
    if crs_to.to_epsg() == 3857:
        bbox = [bbox[0], max(-85.0511, bbox[1]), bbox[2], min(85.0511, bbox[3])]
    n_dims = len(bbox) // 2
    return list(transform(*bbox[:n_dims]) + transform(*bbox[n_dims:]))


_TRANSLATED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_TRANSLATED_MAX = 64
_TRANSLATE_LOCK = threading.Lock()


def _translate_struct(original: Any) -> Any:
    def translate_struct(struct: Any, locale_: Any, is_config: bool = False) -> Any:
        if not is_config or not struct or not locale_:
            return original(struct, locale_, is_config)
        import pygeoapi.l10n as l10n

        key = (struct.get("server", {}).get("url"), tuple(struct.get("resources", {})), str(locale_))
        with _TRANSLATE_LOCK:
            if key in _TRANSLATED:
                _TRANSLATED.move_to_end(key)
                return _TRANSLATED[key]
            l10n._cfg_cache.clear()  # pygeoapi's own cache would hand back another configuration's translation
            result = original(struct, locale_, True)
            l10n._cfg_cache.clear()
            _TRANSLATED[key] = result
            while len(_TRANSLATED) > _TRANSLATED_MAX:
                _TRANSLATED.popitem(last=False)
            return result

    translate_struct.onemap_patched = True  # type: ignore[attr-defined]
    return translate_struct


def install() -> None:
    """Point pygeoapi at the cached versions (idempotent; called by the OGC API app factory)."""
    import pygeoapi.api.itemtypes as itemtypes
    import pygeoapi.api.maps as maps
    import pygeoapi.crs as crs
    import pygeoapi.l10n as l10n

    if not getattr(l10n.translate_struct, "onemap_patched", False):
        l10n.translate_struct = _translate_struct(l10n.translate_struct)
    crs.get_transform_from_crs = get_transform_from_crs
    crs.transform_bbox = transform_bbox
    itemtypes.transform_bbox = transform_bbox
    maps.transform_bbox = transform_bbox
