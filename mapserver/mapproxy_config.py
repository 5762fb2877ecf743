"""Generate the MapProxy configuration: WMTS (KVP + REST), TMS, XYZ and a WMS front over MapServer.

Tiles are rendered by the real ``mapserv`` binary (MapProxy's ``mapserver`` source) from the generated mapfile,
in metatiles, and cached on disk under ``var/cache/tiles`` where nginx can serve them directly in production.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from layers.registry import Registry

# MapProxy grid level n == 天地图 level n for the CGCS2000 geographic ("c") matrix set: level 1 is 2x1 tiles of
# 256 px over the world, i.e. 0.703125°/px; level 0 (1.40625°/px) is kept so the numbering lines up.
TIANDITU_C_RES = [1.40625 / 2 ** i for i in range(21)]
GRIDS: dict[str, dict[str, Any]] = {
    "webmercator": {"base": "GLOBAL_WEBMERCATOR", "num_levels": 21},
    "cgcs2000": {
        "srs": "EPSG:4490",
        "bbox": [-180, -90, 180, 90],
        "bbox_srs": "EPSG:4490",
        "origin": "nw",
        "tile_size": [256, 256],
        "res": TIANDITU_C_RES,
    },
}
BASEMAP_LAYERS = ["districts", "water", "industrial_parks", "roads"]
MAPSERV = Path("/usr/lib/cgi-bin/mapserv")


def write_mapserv_wrapper(path: Path, mapserver_conf: Path) -> Path:
    """MapProxy runs ``mapserv`` with its own environment; MapServer 8 needs MAPSERVER_CONFIG_FILE set."""
    path.write_text(
        "#!/bin/sh\n# Generated: run MapServer with OneMap's config file (MapServer 8 refuses to start without one).\n"
        f"MAPSERVER_CONFIG_FILE='{mapserver_conf}' exec '{MAPSERV}' \"$@\"\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def build_mapproxy_config(
    registry: Registry,
    *,
    mapfile: Path,
    mapserv: Path,
    cache_dir: Path,
    work_dir: Path,
    tianditu_key: str | None = None,
) -> dict[str, Any]:
    tiled = [layer for layer in registry if layer.raster_tiles]
    sources: dict[str, Any] = {
        "ms_basemap": {
            "type": "mapserver",
            "req": {"layers": ",".join(BASEMAP_LAYERS), "map": str(mapfile), "transparent": False},
            "mapserver": {"binary": str(mapserv), "working_dir": str(work_dir)},
            "coverage": {"bbox": [73.0, 18.0, 135.5, 54.0], "srs": "EPSG:4490"},
        }
    }
    caches: dict[str, Any] = {
        "basemap_cache": {
            "grids": list(GRIDS),
            "sources": ["ms_basemap"],
            "format": "image/png",
            # one directory per grid: <cache_dir>/basemap_cache_<grid>/<z>/<x>/<y>.png (nginx can serve these)
            "cache": {"type": "file", "directory_layout": "tms"},
        }
    }
    layers: list[dict[str, Any]] = [{"name": "basemap", "title": "示范市底图 (城市自有数据)", "sources": ["basemap_cache"]}]
    for layer in tiled:
        sources[f"ms_{layer.id}"] = {
            "type": "mapserver",
            "req": {"layers": layer.id, "map": str(mapfile), "transparent": True},
            "mapserver": {"binary": str(mapserv), "working_dir": str(work_dir)},
            "coverage": {"bbox": [73.0, 18.0, 135.5, 54.0], "srs": "EPSG:4490"},
        }
        caches[f"{layer.id}_cache"] = {
            "grids": list(GRIDS),
            "sources": [f"ms_{layer.id}"],
            "format": "image/png",
            "cache": {"type": "file", "directory_layout": "tms"},
        }
        layers.append({"name": layer.id, "title": layer.title_zh, "sources": [f"{layer.id}_cache"]})
    if tianditu_key:
        # Optional online basemap (天地图 vector, CGCS2000 "c" matrix); off unless a key is configured.
        sources["tianditu_vec"] = {
            "type": "tile",
            "grid": "cgcs2000",
            "url": "https://t0.tianditu.gov.cn/vec_c/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
                   "&STYLE=default&TILEMATRIXSET=c&FORMAT=tiles&TILEMATRIX=%(z)s&TILEROW=%(y)s&TILECOL=%(x)s"
                   f"&tk={tianditu_key}",
            "origin": "nw",
        }
        caches["tianditu_cache"] = {"grids": ["cgcs2000"], "sources": ["tianditu_vec"], "format": "image/png",
                                    "cache": {"type": "file", "directory": str(cache_dir / "tianditu")}}
        layers.append({"name": "tianditu_vec", "title": "天地图矢量底图", "sources": ["tianditu_cache"]})
    return {
        "services": {
            "wmts": {"restful": True, "kvp": True,
                     "restful_template": "/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.{Format}",
                     "md": {"title": "示范市安全生产一张图 WMTS"}},
            "tms": {"use_grid_names": True, "origin": "sw"},
            "wms": {"srs": ["EPSG:4490", "EPSG:4326", "EPSG:3857"],
                    "image_formats": ["image/png", "image/jpeg"],
                    "max_output_pixels": [4096, 4096],
                    "md": {"title": "示范市安全生产一张图 WMS (cached)", "abstract": "synthetic demo city"}},
        },
        "layers": layers,
        "caches": caches,
        "sources": sources,
        "grids": GRIDS,
        "globals": {
            "cache": {"meta_size": [4, 4], "meta_buffer": 32, "lock_dir": str(work_dir / "locks"),
                      "base_dir": str(cache_dir)},
            "image": {"resampling_method": "bilinear", "paletted": False},
            "mapserver": {"binary": str(mapserv), "working_dir": str(work_dir)},
            "http": {"client_timeout": 60},
        },
    }


def write_mapproxy(settings: dict[str, Any], mapfile: Path, out_dir: Path) -> dict[str, Path]:
    import yaml

    from app.config import resolve_path
    from layers.registry import default_registry

    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    (work / "locks").mkdir(parents=True, exist_ok=True)
    wrapper = write_mapserv_wrapper(out_dir / "mapserv.sh", mapfile.with_name("mapserver.conf"))
    cache_dir = resolve_path(settings["paths"]["var"]) / "cache" / "tiles"
    cache_dir.mkdir(parents=True, exist_ok=True)
    config = build_mapproxy_config(default_registry(), mapfile=mapfile, mapserv=wrapper, cache_dir=cache_dir,
                                   work_dir=work, tianditu_key=os.environ.get("ONEMAP_TIANDITU_KEY") or None)
    path = out_dir / "mapproxy.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return {"mapproxy": path}
