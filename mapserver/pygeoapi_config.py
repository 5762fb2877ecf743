"""Generate the pygeoapi configuration (OGC API Features/Tiles/Coverages/Processes) from the layer registry."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from layers.registry import Layer, Registry

CRS_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
SERVED_CRS = [CRS84, CRS_URI.format(4326), CRS_URI.format(4490), CRS_URI.format(3857)]
CHINA_BBOX = [73.0, 18.0, 135.5, 54.0]


MVT_PROVIDER = "mapserver.providers.OneMapMVTProvider"
FEATURE_PROVIDER = "mapserver.providers.OneMapFeatureProvider"


def _collection(layer: Layer, db: dict[str, Any], bbox: list[float]) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "type": "feature",
        "name": FEATURE_PROVIDER,
        "data": db,
        "id_field": layer.id_field,
        "table": layer.table,
        "geom_field": "geom",
        "storage_crs": CRS_URI.format(layer.srid),
        "crs": SERVED_CRS,
        "editable": layer.editable,
        "title_field": "name" if "name" in layer.field_names else None,
    }
    if layer.temporal_field:
        provider["time_field"] = layer.temporal_field
    provider = {k: v for k, v in provider.items() if v is not None}
    providers = [provider]
    if layer.mvt:
        providers.append({
            "type": "tile",
            "name": MVT_PROVIDER,
            "data": db,
            "id_field": layer.id_field,
            "table": layer.table,
            "geom_field": "geom",
            "storage_crs": CRS_URI.format(layer.srid),
            # no "schemes" list here: pygeoapi passes non-dict options on to create_engine (unhashable list)
            "options": {"zoom": {"min": 0, "max": 20}},
            "format": {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"},
        })
    return {
        "type": "collection",
        "title": {"zh": layer.title_zh, "en": layer.title_en},
        "description": {
            "zh": f"{layer.title_zh}（示范市合成数据；访问级别：{layer.access}）",
            "en": f"{layer.title_en} (synthetic demo data; access level: {layer.access})",
        },
        "keywords": {"zh": [layer.title_zh, layer.group], "en": [layer.title_en, layer.group]},
        "extents": {"spatial": {"bbox": bbox, "crs": CRS84}},
        "providers": providers,
    }


def _coverage(raster: Path, bbox: list[float]) -> dict[str, Any]:
    return {
        "type": "collection",
        "title": {"zh": "人口密度（100米格网）", "en": "Population density (100 m grid)"},
        "description": {"zh": "示范市合成人口密度栅格，单位：人/格", "en": "Synthetic population per 100 m cell"},
        "keywords": {"zh": ["人口", "栅格"], "en": ["population", "raster"]},
        "extents": {"spatial": {"bbox": bbox, "crs": CRS84}},
        "providers": [{
            "type": "coverage",
            "name": "rasterio",
            "data": str(raster),
            "format": {"name": "GTiff", "mimetype": "application/tiff"},
        }],
    }


def build_pygeoapi_config(
    registry: Registry,
    *,
    db_url: str,
    public_url: str,
    raster: Path | None,
    templates: Path | None = None,
    processes: Mapping[str, str] | None = None,
    city_bbox: list[float] | None = None,
) -> dict[str, Any]:
    """The pygeoapi config as a dict. ``city_bbox`` (CRS84) is every collection's spatial extent (else China's):
    the city's box of mapserver/extent.py, a bound also for rows added later (a layer's own ST_Extent is not)."""
    city_bbox = city_bbox or CHINA_BBOX
    server: dict[str, Any] = {
        "bind": {"host": "127.0.0.1", "port": 0},
        "url": public_url.rstrip("/") + "/ogcapi",
        "mimetype": "application/json; charset=UTF-8",
        "encoding": "utf-8",
        "gzip": False,
        "languages": ["zh-CN", "en-US"],
        "pretty_print": False,
        "limits": {"default_items": 10, "max_items": 10000, "on_exceed": "throttle"},
        # Our own basemap from MapProxy: the HTML pages need no internet tiles.
        "map": {"url": public_url.rstrip("/") + "/tiles/wmts/basemap/webmercator/{z}/{x}/{y}.png",
                "attribution": "示范市合成数据 / synthetic data"},
        # No job manager: processes execute synchronously (pygeoapi's dummy manager); async jobs need a queue.
    }
    if templates is not None:
        server["templates"] = {"path": str(templates)}
    url = make_url(db_url)
    # pygeoapi's SQL providers use psycopg2 and take the connection as parts.
    db = {"host": url.host, "port": url.port or 5432, "dbname": url.database, "user": url.username,
          "password": url.password, "search_path": ["public"]}
    resources: dict[str, Any] = {
        layer.id: _collection(layer, db, city_bbox) for layer in registry
    }
    if raster is not None:
        from mapserver.coverage import read_raster_info

        info = read_raster_info(raster)  # the coverage's own bounds, not the city's
        resources["population"] = _coverage(raster, [round(v, 6) for v in info.extent] if info else city_bbox)
    if processes is None:  # the installed modules' processes (Manifest.processes)
        from core.manifest import collect

        processes = dict(collect(None, "processes"))
    for process_id, dotted in sorted(processes.items()):
        resources[process_id] = {"type": "process", "processor": {"name": dotted}}
    return {
        "server": server,
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"zh": "示范市安全生产一张图 OGC API", "en": "OneMap OGC API (synthetic demo city)"},
                "description": {"zh": "安全生产与应急管理空间数据服务（示范市为虚构城市，数据均为合成数据）",
                                "en": "Work-safety and emergency spatial data services (synthetic demo city)"},
                "keywords": {"zh": ["安全生产", "应急管理", "一张图"], "en": ["work safety", "emergency", "onemap"]},
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": public_url,
            },
            "license": {"name": "Internal use", "url": public_url},
            "provider": {"name": "示范市应急管理局 (synthetic)", "url": public_url},
            "contact": {"name": "OneMap", "position": "Operator", "address": "", "city": "示范市",
                        "stateorprovince": "", "postalcode": "", "country": "China", "phone": "", "fax": "",
                        "email": "", "url": public_url, "hours": "", "instructions": "", "role": "pointOfContact"},
        },
        "resources": resources,
    }


def write_pygeoapi(settings: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``pygeoapi.yaml`` and ``openapi.yaml`` for the configured database into ``out_dir``."""
    from pygeoapi.openapi import get_oas

    from core.config import public_url, resolve_path
    from core.db import database_url
    from core.manifest import collect
    from core.yamlload import dump
    from layers.registry import default_registry
    from mapserver.extent import city_extent
    from mapserver.openapi_bundle import bundle, correct_pygeoapi

    registry = default_registry()
    out_dir.mkdir(parents=True, exist_ok=True)
    city = city_extent(settings, registry)
    raster = resolve_path(settings["paths"]["var"]) / "data" / "population.tif"
    templates = Path(__file__).with_name("pygeoapi_templates")
    config = build_pygeoapi_config(
        registry, db_url=database_url(settings), public_url=public_url(settings),
        raster=raster if raster.exists() else None,
        templates=templates if templates.is_dir() else None, city_bbox=list(city) if city else None,
        processes=dict(collect(settings, "processes")))
    config_path = out_dir / "pygeoapi.yaml"
    config_path.write_text(dump(config), encoding="utf-8")
    config_path.chmod(0o600)  # it holds the database password
    openapi_path = out_dir / "openapi.yaml"
    key = _openapi_key(config, database_url(settings), raster)
    text = _OPENAPI_MEMO.get(key) if key else None
    if text is None:
        # the OGC schemas it references are embedded from local copies: an offline client resolves every $ref
        text = dump(bundle(correct_pygeoapi(get_oas(config, fail_on_invalid_collection=False))))
        if key:
            _OPENAPI_MEMO[key] = text
            while len(_OPENAPI_MEMO) > _OPENAPI_MEMO_SIZE:
                _OPENAPI_MEMO.popitem(last=False)
    openapi_path.write_text(text, encoding="utf-8")
    return {"pygeoapi": config_path, "openapi": openapi_path}


# pygeoapi builds its OpenAPI document by opening every collection's provider, which reflects each table over a new
# connection: ~1.4 s for a database it has not seen. Databases of the same schema (a restored copy, a test's clone
# of the template) get the same document, so a process keeps the last few, keyed by everything the document is
# made from: the configuration less its connection, the columns of the public schema, and the raster file.
_OPENAPI_MEMO: OrderedDict[str, str] = OrderedDict()
_OPENAPI_MEMO_SIZE = 8


def _openapi_key(config: dict[str, Any], db_url: str, raster: Path) -> str | None:
    """None when the database cannot be read (the document is then built, and not kept)."""
    import hashlib
    import json

    import sqlalchemy as sa

    engine = sa.create_engine(db_url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            columns = conn.execute(sa.text(
                "select table_name, column_name, data_type, udt_name, is_nullable from information_schema.columns "
                "where table_schema = 'public' order by table_name, ordinal_position")).all()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    resources = {name: {**res, "providers": [{**p, "data": "<connection>"} if isinstance(p.get("data"), dict) else p
                                             for p in res.get("providers", [])]}
                 for name, res in config["resources"].items()}
    stat = raster.stat() if raster.exists() else None
    h = hashlib.sha256(json.dumps({**config, "resources": resources}, sort_keys=True, default=str).encode())
    h.update(repr(columns).encode())
    h.update(repr((stat.st_size, stat.st_mtime_ns) if stat else None).encode())
    return h.hexdigest()
