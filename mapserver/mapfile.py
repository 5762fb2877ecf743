"""Generate the MapServer 8 mapfile, its config file, fontset and GetFeatureInfo templates from the registry.

Everything is derived from ``layers/defs`` and ``styles/``: adding a layer there adds a WMS/WFS layer here.
The database password never enters the mapfile (MapServer echoes CONNECTION strings in some errors): libpq
reads it from a 0600 ``pgpass`` file that the CONNECTION names with ``passfile=``.
"""

from __future__ import annotations

import html
import logging
import os
import re
import string
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from core.config import resolve_path
from core.db import database_url
from core.geo.coords import gk3_zone_epsg
from core.scope import Scope, ScopeLink, scope_links
from layers.registry import GROUP_TITLES, Layer, Registry
from mapserver.coverage import RasterInfo, raster_block, read_raster_info
from mapserver.extent import CHINA_EXTENT, Extent, extent_text
from mapserver.labels import LABEL_LAYER_SUFFIX, anchor_sql
from mapserver.outputformats import output_formats
from styles import Styles, zoom_to_scale
from styles.mapserver import anchored_label, compile_classes, compile_label_classes, q, symbol_definitions

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).with_name("templates")
MAPSERV = Path("/usr/lib/cgi-bin/mapserv")
FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONTS = {"cjk": FONT_DIR / "NotoSansCJK-Regular.ttc", "cjk-bold": FONT_DIR / "NotoSansCJK-Bold.ttc"}
# The Noto CJK collections hold one face per region and MapServer loads a collection's first one, Japanese: 直, 骨,
# 角 … would be drawn with Japanese glyph shapes. The Simplified-Chinese face is written out as a font of its own.
CJK_FAMILY = "Noto Sans CJK SC"
PROJ_DATA = Path("/usr/share/proj")
NAMESPACE_PREFIX = "onemap"
NAMESPACE_URI = "https://onemap.example/ns/onemap"
# Storage, WGS 84, Web Mercator; ows_srs() adds the city's CGCS2000 Gauss-Krüger zones so surveys use local metres.
BASE_SRS = ("EPSG:4490", "EPSG:4326", "EPSG:3857")
MAXSIZE = 4096
# 0.28 mm pixels, the OGC standard rendering pixel: scale denominators then agree with SLD and WMTS clients.
OGC_DPI = 25.4 / 0.28
GML_GEOM_TYPES = {"Point": "point", "MultiPoint": "multipoint", "LineString": "line",
                  "MultiLineString": "multiline", "Polygon": "polygon", "MultiPolygon": "multipolygon"}
MS_LAYER_TYPES = {"point": "POINT", "line": "LINE", "polygon": "POLYGON"}
GFI_FORMATS = "text/html,application/json,application/vnd.ogc.gml,application/vnd.ogc.gml/3.1.1"
# Data scope reaches MapServer by runtime substitution: every non-public layer's sub-select ends in the scope
# predicate of core/scope.py with three tokens per layer, filled by the policy gate from the caller's identity
# (a client sending any parameter named onemap_* is refused there). The VALIDATION patterns admit digits, capital
# letters and commas only, and the defaults match no row: mapserv reached without the gate serves nothing.
SCOPE_PARAM_PREFIX = "onemap_"
SCOPE_NO_DISTRICT, SCOPE_NO_USCC = "000000", "NONE"
SCOPE_MAX_VALUES = 64


# -- database connection -----------------------------------------------------------------------------------------
def _conninfo_value(value: str) -> str:
    """A libpq keyword value, quoted when it contains spaces, quotes or backslashes."""
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def write_connection(config: Mapping[str, Any], out_dir: Path) -> str:
    """The libpq connection string for the mapfile; the password goes to ``out_dir/pgpass`` (mode 0600)."""
    url = make_url(database_url(dict(config)))
    params = {"host": url.host or "127.0.0.1", "port": str(url.port or 5432), "dbname": url.database or "",
              "user": url.username or ""}
    if url.password:
        passfile = out_dir / "pgpass"
        line = ":".join(_pgpass_field(v) for v in (params["host"], params["port"], params["dbname"],
                                                    params["user"], url.password))
        _write(passfile, line + "\n", mode=0o600)
        params["passfile"] = str(passfile)
    params["application_name"] = "onemap-mapserver"
    params["connect_timeout"] = "10"
    return " ".join(f"{k}={_conninfo_value(v)}" for k, v in params.items() if v)


# -- pieces of the mapfile ---------------------------------------------------------------------------------------
def _metadata(items: Iterable[tuple[str, str]], indent: str) -> str:
    body = "\n".join(f"{indent}  {q(k)} {q(v)}" for k, v in items)
    return f"{indent}METADATA\n{body}\n{indent}END"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def layer_columns(layer: Layer) -> str:
    """Every registry field of ``layer``, JSON flattened to text (MapServer has no JSON type)."""
    cols = [_ident(layer.id_field)]
    for f in layer.fields:
        cols.append(f"{_ident(f.name)}::text AS {_ident(f.name)}" if f.type == "json" else _ident(f.name))
    return ", ".join(cols)


def layer_sql(layer: Layer, where: str | None = None) -> str:
    """The sub-select MapServer reads: every registry field and the geometry."""
    return (f"select {layer_columns(layer)}, geom from public.{_ident(layer.table)}"
            + (f" where {where}" if where else ""))


def scope_tokens(layer_id: str) -> tuple[str, str, str]:
    """The runtime-substitution parameter names of one layer: all rows?, districts, enterprises."""
    base = f"{SCOPE_PARAM_PREFIX}{layer_id}"
    return f"{base}_all", f"{base}_districts", f"{base}_usccs"


def scope_params(layer_id: str, scope: Scope) -> dict[str, str]:
    """The values the gate passes to mapserv for ``layer_id`` (an empty scope gets the match-nothing defaults)."""
    all_, districts, usccs = scope_tokens(layer_id)
    return {all_: "yes" if scope.all else "no",
            districts: ",".join(sorted(scope.districts)[:SCOPE_MAX_VALUES]) or SCOPE_NO_DISTRICT,
            usccs: ",".join(sorted(scope.enterprises)[:SCOPE_MAX_VALUES]) or SCOPE_NO_USCC}


def _scope_where(link: ScopeLink) -> str:
    all_, districts, usccs = scope_tokens(link.layer_id)
    return link.where(all_sql=f"'%{all_}%' = 'yes'", districts_sql=f"string_to_array('%{districts}%', ',')",
                      usccs_sql=f"string_to_array('%{usccs}%', ',')")


def _scope_validation(layer_id: str) -> str:
    all_, districts, usccs = scope_tokens(layer_id)
    n = SCOPE_MAX_VALUES - 1
    rows = [(all_, "^(yes|no)$", "no"), (districts, f"^[0-9]{{6}}(,[0-9]{{6}}){{0,{n}}}$", SCOPE_NO_DISTRICT),
            (usccs, f"^({SCOPE_NO_USCC}|[0-9A-Z]{{18}}(,[0-9A-Z]{{18}}){{0,{n}}})$", SCOPE_NO_USCC)]
    lines = [f"      {q(name)} {q(pattern)}\n      {q('default_' + name)} {q(default)}" for name, pattern, default in rows]
    return "\n".join(["    VALIDATION", *lines, "    END"])


def _scale_bounds(layer: Layer, styles: Styles) -> tuple[float | None, float | None]:
    """The registry's zoom range narrowed by the style's own range, as scale denominators."""
    style = styles.for_layer(layer)
    lo = zoom_to_scale(layer.zoom_max + 0.5) if layer.zoom_max < 20 else None
    hi = zoom_to_scale(layer.zoom_min - 0.5) if layer.zoom_min > 0 else None
    if style.min_scale is not None:
        lo = style.min_scale if lo is None else max(lo, style.min_scale)
    if style.max_scale is not None:
        hi = style.max_scale if hi is None else min(hi, style.max_scale)
    return lo, hi


def _layer_block(layer: Layer, styles: Styles, connection: str, link: ScopeLink | None = None, *,
                 extent: Extent = CHINA_EXTENT) -> str:
    style = styles.for_layer(layer)
    group = GROUP_TITLES.get(layer.group, {"zh-CN": layer.group, "en": layer.group})
    lo, hi = _scale_bounds(layer, styles)
    meta = [
        ("ows_title", layer.title_zh), ("wms_title", layer.title_zh), ("wfs_title", layer.title_zh),
        ("ows_abstract", f"{layer.title_zh}（{layer.title_en}），{group['zh-CN']}图层；"
                         f"坐标系 CGCS2000 (EPSG:4490)。"),
        ("ows_keywordlist", f"{group['zh-CN']},{layer.title_zh},{layer.title_en}"),
        ("wms_enable_request", "*"), ("wfs_enable_request", "*"), ("wcs_enable_request", "!*"),
        ("wms_include_items", "all"), ("gml_include_items", "all"), ("gml_featureid", layer.id_field),
        ("gml_types", "auto"), ("gml_geometries", "geom"), ("gml_geom_type", GML_GEOM_TYPES[layer.geometry]),
        ("wfs_getfeature_formatlist", "geojson,application/geo+json"),
        # A timestamp typed "auto" is described as gml:TimeInstantType, which GDAL's WFS client cannot read: it then
        # drops the whole DescribeFeatureType, guesses the schema from a sample and sends no BBOX with -spat.
        # ISO 8601 text (what MapServer writes anyway) keeps every client working.
        # A date is the same (MapServer describes "auto" and "Date" alike as gml:TimeInstantType): text too.
        *((f"gml_{f.name}_type", "Character") for f in layer.fields if f.type in ("datetime", "date")),
        # A boolean typed "auto" is described as integer but written true/false: GDAL and QGIS then read true as 0.
        *((f"gml_{f.name}_type", "Boolean") for f in layer.fields if f.type == "boolean"),
        # The city's box (mapserver/extent.py) for every layer: what WMS and WFS capabilities advertise (QGIS zooms
        # to it) and the implicit filter of MapServer's WFS counts. Left unset, MapServer 8 takes ST_Extent() of
        # the table at each request (none for a scoped layer in capabilities, so no box at all), prints it with 15
        # significant digits and counts inside that, losing the outermost features (999 of 1,000).
        ("wfs_use_default_extent_for_getfeature", "false"), ("ows_extent", extent_text(extent)),
    ]
    scale = [f"    MINSCALEDENOM {lo:.0f}"] if lo else []
    scale += [f"    MAXSCALEDENOM {hi:.0f}"] if hi else []
    scoped = layer.access != "public"
    # without a link the layer still gets the "all rows?" token, so it is closed rather than open
    where = _scope_where(link or ScopeLink(layer.id, layer.table)) if scoped else None
    data = f"geom from ({layer_sql(layer, where)}) as t using unique {layer.id_field} using srid={layer.srid}"
    tolerance = 8 if style.geometry == "point" else (4 if style.geometry == "line" else 0)
    return "\n".join([
        "  LAYER",
        f"    NAME {q(layer.id)}",
        f"    TYPE {MS_LAYER_TYPES[style.geometry]}",
        "    STATUS ON",
        "    CONNECTIONTYPE POSTGIS",
        f"    CONNECTION {q(connection)}",
        f"    DATA {q(data)}",
        '    PROCESSING "CLOSE_CONNECTION=DEFER"',
        *([_scope_validation(layer.id)] if scoped else []),
        f"    PROJECTION {q('init=epsg:' + str(layer.srid))} END",
        f"    TEMPLATE {q('templates/' + layer.id + '.html')}",
        f"    TOLERANCE {tolerance}",
        "    TOLERANCEUNITS PIXELS",
        *([f"    OPACITY {round(style.opacity * 100)}"] if style.opacity < 1 else []),
        *scale,
        _metadata(meta, "    "),
        compile_classes(style, layer).rstrip("\n"),
        "  END",
    ])


def _label_layer_block(layer: Layer, styles: Styles, connection: str, link: ScopeLink | None, *,
                       extent: Extent = CHINA_EXTENT) -> str:
    """The hidden layer drawing ``layer``'s labels at stable anchors (see styles.mapserver.anchored_label).

    STATUS DEFAULT with REQUIRES: drawn exactly when its layer is (MapServer draws DEFAULT layers without being
    asked; a client cannot ask for it, the policy gate knows no such layer and drops it from capabilities). Its rows
    carry the same data-scope predicate, with the same runtime-substitution tokens, as its layer.
    """
    style = styles.for_layer(layer)
    scoped = layer.access != "public"
    where = _scope_where(link or ScopeLink(layer.id, layer.table)) if scoped else None
    sql = anchor_sql(layer, style, layer_columns(layer), where)
    lo, hi = _scale_bounds(layer, styles)
    # GetMap only (a DEFAULT layer is drawn only if GetMap is enabled for it); never a WFS feature type
    # and the city's box, as its layer's: without one MapServer runs ST_Extent over the anchor query (every
    # anchor of the table computed) for each GetCapabilities — 2 s of the 2.3 s it took on the demo city
    meta = [("wms_enable_request", "GetMap"), ("wfs_enable_request", "!*"), ("wcs_enable_request", "!*"),
            ("ows_title", f"{layer.title_zh}（注记）"), ("ows_extent", extent_text(extent))]
    return "\n".join([
        "  LAYER",
        f"    NAME {q(layer.id + LABEL_LAYER_SUFFIX)}",
        "    TYPE POINT",
        "    STATUS DEFAULT",
        f"    REQUIRES {q('[' + layer.id + ']')}",
        "    CONNECTIONTYPE POSTGIS",
        f"    CONNECTION {q(connection)}",
        f"    DATA {q(f'geom from ({sql}) as t using unique {layer.id_field} using srid={layer.srid}')}",
        '    PROCESSING "CLOSE_CONNECTION=DEFER"',
        *([_scope_validation(layer.id)] if scoped else []),
        f"    PROJECTION {q('init=epsg:' + str(layer.srid))} END",
        *([f"    MINSCALEDENOM {lo:.0f}"] if lo else []),
        *([f"    MAXSCALEDENOM {hi:.0f}"] if hi else []),
        _metadata(meta, "    "),
        compile_label_classes(style, layer).rstrip("\n"),
        "  END",
    ])


def ows_srs(extent: Extent) -> tuple[str, ...]:
    """The CRSs the services offer: CGCS2000 and WGS 84 geographic, Web Mercator, and the CGCS2000 3° Gauss-Krüger
    zones the extent reaches, each as "CM nnnE" (EPSG:4534–4554) and with the zone number in the easting
    (EPSG:4513–4533). Not every zone of China: with ``wms_bbox_extended`` MapServer projects every layer's box into
    every CRS offered at each GetCapabilities (all 42 zones took 2.3 s a request on the demo city, these 0.2 s)."""
    west, _, east, _ = extent
    first, last = (gk3_zone_epsg(min(max(lng, 73.0), 136.5)) for lng in (west, east))
    zones = range(first, last + 1)
    return (*BASE_SRS, *(f"EPSG:{code}" for code in zones), *(f"EPSG:{code - 21}" for code in zones))


def _web_block(extent: Extent = CHINA_EXTENT) -> str:
    # No ows_onlineresource: MapServer then builds its address per request from the CGI variables the /ows bridge
    # sets to the request's public base (mapserver/public_base.py), so capabilities and GML schemaLocation follow
    # the configured public URL, a trusted proxy or the port actually served instead of a URL fixed at build time.
    meta = [
        ("ows_title", "安全生产“一张图”地图服务"), ("wms_title", "安全生产“一张图”地图服务"),
        ("ows_abstract", "市应急管理局安全生产“一张图”：监管对象、应急资源、网格与事件的 WMS/WFS/WCS 服务。"),
        ("ows_keywordlist", "安全生产,应急管理,一张图"),
        ("ows_contactperson", "应急指挥中心值班室"), ("ows_contactorganization", "市应急管理局"),
        ("ows_contactposition", "值班员"), ("ows_fees", "none"),
        # the contact address WMS 1.3.0 capabilities require (MapServer writes a warning comment per missing item)
        ("ows_addresstype", "postal"), ("ows_address", "市应急管理局"), ("ows_city", "示范市"),
        ("ows_stateorprovince", "示范省"), ("ows_postcode", "000000"),
        ("ows_accessconstraints", "内部使用，按数据权限授权访问"),
        ("ows_country", "中国"),
        ("ows_srs", " ".join(ows_srs(extent))),
        ("ows_enable_request", "*"),
        ("ows_namespace_prefix", NAMESPACE_PREFIX), ("ows_namespace_uri", NAMESPACE_URI),
        ("wfs_namespace_prefix", NAMESPACE_PREFIX), ("wfs_namespace_uri", NAMESPACE_URI),
        ("wfs_getfeature_formatlist", "geojson,application/geo+json"),
        # numberMatched lets QGIS and OWSLib page through every feature instead of trusting one page.
        ("wfs_compute_number_matched", "true"),
        ("wfs_use_default_extent_for_getfeature", "false"),
        ("wms_getmap_formatlist", "png,png8,png24,jpeg"),
        ("wms_getfeatureinfo_formatlist", GFI_FORMATS), ("wms_feature_info_mime_type", "text/html"),
        ("wms_allow_getmap_without_styles", "true"),
        # a BoundingBox in every CRS offered (not only the layer's own), so a client zooms in the CRS it draws in
        ("wms_bbox_extended", "true"),
        # SLD=<url> would make the server fetch arbitrary URLs; styles are published at /ows/styles instead.
        ("wms_sld_enabled", "false"),
        # CGI "modes" (mode=browse, template queries) are not an OGC interface and bypass our templates.
        ("ms_enable_modes", "!*"),
        ("wcs_label", "安全生产“一张图”覆盖服务"), ("wcs_description", "人口分布等栅格数据"),
    ]
    return "\n".join(["  WEB", f"    HEADER {q('templates/gfi_header.html')}",
                      f"    FOOTER {q('templates/gfi_footer.html')}", _metadata(meta, "    "), "  END"])


def render_mapfile(registry: Registry, styles: Styles, connection: str, *,
                   extent: tuple[float, float, float, float], raster: RasterInfo | None,
                   fontset: Path) -> str:
    minx, miny, maxx, maxy = extent
    parts = [
        "# Generated by mapserver/mapfile.py from layers/defs and styles/ -- do not edit.",
        "MAP",
        '  NAME "onemap"',
        "  STATUS ON",
        f"  EXTENT {minx!r} {miny!r} {maxx!r} {maxy!r}",
        "  SIZE 800 600",
        f"  MAXSIZE {MAXSIZE}",
        "  UNITS DD",
        f"  RESOLUTION {OGC_DPI:.4f}",
        f"  DEFRESOLUTION {OGC_DPI:.4f}",
        '  IMAGECOLOR "#FFFFFF"',
        '  IMAGETYPE "png"',
        f"  FONTSET {q(str(fontset))}",
        '  PROJECTION "init=epsg:4490" END',
        symbol_definitions().rstrip("\n"),
        output_formats(raster).rstrip("\n"),
        _web_block(extent),
        "  LEGEND",
        "    KEYSIZE 24 16",
        "    KEYSPACING 6 4",
        '    IMAGECOLOR "#FFFFFF"',
        "    LABEL",
        '      FONT "cjk"',
        "      SIZE 9",
        '      COLOR "#222222"',
        "    END",
        "  END",
    ]
    if raster is not None:
        parts.append(raster_block(raster, wcs_srs=BASE_SRS, namespace_uri=NAMESPACE_URI))
    links = scope_links(registry)
    for layer in registry:
        if layer.id.endswith(LABEL_LAYER_SUFFIX):
            raise ValueError(f"layer id {layer.id!r} would clash with the label layer of {layer.id[:-8]!r}")
        parts.append(_layer_block(layer, styles, connection, links[layer.id], extent=extent))
        if anchored_label(styles.for_layer(layer)):
            parts.append(_label_layer_block(layer, styles, connection, links[layer.id], extent=extent))
    parts.append("END")
    return "\n".join(parts) + "\n"


def _regex_literal(text: str) -> str:
    """``text`` as a regex without backslashes (MapServer's lexer treats backslashes in strings its own way)."""
    out = []
    for ch in text:
        if ch.isalnum() or ch in "/_- ":
            out.append(ch)
        elif ch in "\\^]":
            out.append(re.escape(ch))
        else:
            out.append(f"[{ch}]")
    return "".join(out)


def render_config(mapfile: Path) -> str:
    """MapServer 8's config file: only our mapfile may be loaded, by MS_MAPFILE, path or the ONEMAP key."""
    pattern = "^" + _regex_literal(str(mapfile)) + "$"
    env = {
        # No MS_MAPFILE here: an ENV entry would override the per-request MS_MAPFILE the bridge (or nginx's
        # fastcgi_param) sets, and make_ows_app's mapfile argument would be silently ignored.
        "MS_MAP_PATTERN": pattern,
        "MS_ERRORFILE": "stderr",
        "PROJ_DATA": str(PROJ_DATA),
        "PROJ_LIB": str(PROJ_DATA),
    }
    lines = ["# Generated by mapserver/mapfile.py -- do not edit.", "CONFIG", "  ENV"]
    lines += [f"    {k} {q(v)}" for k, v in env.items()]
    lines += ["  END", "  MAPS", f"    ONEMAP {q(str(mapfile))}", "  END", "END"]
    return "\n".join(lines) + "\n"


def _render_templates(registry: Registry, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("gfi_header.html", "gfi_footer.html"):
        _write(target / name, (TEMPLATES_DIR / name).read_text(encoding="utf-8"))
    skeleton = string.Template((TEMPLATES_DIR / "gfi_layer.html").read_text(encoding="utf-8"))
    for layer in registry:
        rows = "\n".join(f'<tr><th>{html.escape(f.label)}</th><td>[item name="{f.name}" escape="html"]</td></tr>'
                         for f in layer.fields if f.type != "json")
        _write(target / f"{layer.id}.html", skeleton.substitute(
            layer=layer.id, id_field=layer.id_field, title=html.escape(layer.title_zh), rows=rows))


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write atomically: a running mapserv never reads a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def default_out_dir(config: Mapping[str, Any]) -> Path:
    return resolve_path(config["paths"]["var"]) / "generated" / "mapserver"


def chinese_fonts(out: Path) -> dict[str, Path]:
    """fontset alias → a font file with Simplified-Chinese glyphs (the collection itself when it cannot be split)."""
    from fontTools.ttLib import TTCollection

    fonts: dict[str, Path] = {}
    for alias, collection in FONTS.items():
        fonts[alias] = collection
        if not collection.is_file():
            continue
        target = out / f"{collection.stem}-SC.otf"
        if not target.is_file() or target.stat().st_mtime < collection.stat().st_mtime:
            faces = TTCollection(str(collection), lazy=True).fonts  # lazy: tables are copied, not parsed
            face = next((f for f in faces if f["name"].getDebugName(1) == CJK_FAMILY), None)
            if face is None:
                log.warning("%s has no %s face: labels keep its first face", collection, CJK_FAMILY)
                continue
            out.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            face.save(str(partial))
            partial.replace(target)
        fonts[alias] = target
    return fonts


def build_mapfile(registry: Registry, styles: Styles, config: Mapping[str, Any], out_dir: Path | None = None,
                  *, extent: tuple[float, float, float, float] | None = None) -> Path:
    """Write ``onemap.map``, ``mapserver.conf``, ``fonts.list``, templates and ``pgpass`` into ``out_dir``.

    ``out_dir`` defaults to ``var/generated/mapserver``; ``extent`` (lon/lat in EPSG:4490) defaults to China's.
    The mapfile names no address of its own: the /ows bridge gives mapserv the request's public base.
    Returns the mapfile path; ``mapserver.conf`` sits next to it.
    """
    out = Path(out_dir) if out_dir is not None else default_out_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    missing = [str(p) for p in FONTS.values() if not p.is_file()]
    if missing:
        log.warning("CJK fonts not found (%s): labels will not render; install fonts-noto-cjk", ", ".join(missing))
    fontset = out / "fonts.list"
    _write(fontset, "".join(f"{alias} {path}\n" for alias, path in chinese_fonts(out / "fonts").items()))
    _render_templates(registry, out / "templates")
    raster = read_raster_info(resolve_path(config["paths"]["var"]) / "data" / "population.tif")
    if raster is None:
        log.info("population raster not found under %s/data: WCS layer 'population' omitted", config["paths"]["var"])
    connection = write_connection(config, out)
    mapfile = out / "onemap.map"
    _write(mapfile, render_mapfile(registry, styles, connection,
                                   extent=extent or CHINA_EXTENT, raster=raster, fontset=fontset))
    _write(out / "mapserver.conf", render_config(mapfile))
    return mapfile
