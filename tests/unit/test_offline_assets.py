"""OneMap runs on a government network without internet: no page may load a script, style sheet, font, image
or tile from another host. These tests read the files, so they catch a CDN link before anyone opens a page.

1. our templates, our static files, pygeoapi template overrides and the vendored libraries load nothing remote;
2. every stock pygeoapi template that loads something remote is overridden in mapserver/pygeoapi_templates/
   (an upgrade of pygeoapi that adds a CDN link to a new template fails here);
3. every vendored file that the overrides and our templates name exists in app/static/vendor/;
4. each override was derived from the stock template that is installed now (its recorded hash matches);
5. the overrides render, point at the vendored copies and use only a basemap served by OneMap itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pygeoapi
import pytest
from babel import Locale
from pygeoapi import l10n
from pygeoapi.util import render_j2_template

from core.manifest import STATIC_DIR, collect, console_script_path, resource
from mapserver import pygeoapi_csp, pygeoapi_patches

ROOT = Path(__file__).resolve().parents[2]
OVERRIDES = ROOT / "mapserver" / "pygeoapi_templates"
STOCK = Path(pygeoapi.__file__).with_name("templates")
VENDOR = ROOT / "app" / "static" / "vendor"
# our pages and scripts, and the static folder of every installed module's console scripts (Manifest.console_scripts)
MODULE_STATIC_DIRS = tuple(sorted({resource(f"{console_script_path(ref)[0]}:{STATIC_DIR}")
                                   for ref in collect(None, "console_scripts")}))
OWN_DIRS = (ROOT / "app" / "templates", ROOT / "app" / "static", *MODULE_STATIC_DIRS)
HELPERS = {"_onemap.html"}  # files in OVERRIDES that are not overrides of a stock template

WEB_SUFFIXES = {".html", ".htm", ".j2", ".jinja", ".jinja2", ".xml", ".svg", ".js", ".mjs", ".cjs", ".css"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]"}

# A URL that names a host: http(s)://, ws(s):// or protocol-relative //host.
URL = r"""(?P<url>(?:(?:https?|wss?):)?//[^\s"'`<>()\\]+)"""
Q = r"""["'`]"""

# Ways a page makes the browser fetch something. Links (<a href>), rel URIs, XML namespaces and data: URIs
# are not fetches and are not matched.
MARKUP_LOADS = [
    # <script src>, <img src|srcset>, <iframe src>, <source>, <video poster>, <object data>, ...
    re.compile(r"<(?:script|img|iframe|frame|embed|source|audio|video|track|input|object)\b[^>]*?"
               r"\b(?:src|srcset|poster|data)\s*=\s*[\"']?\s*" + URL, re.I),
    # SVG <image href>, <use href>, <feImage href>
    re.compile(r"<(?:image|use|feImage)\b[^>]*?\b(?:xlink:)?href\s*=\s*[\"']?\s*" + URL, re.I),
]
STYLE_LOADS = [
    re.compile(r"url\(\s*[\"']?\s*" + URL, re.I),
    re.compile(r"@import\s+(?:url\(\s*)?[\"']?\s*" + URL, re.I),
]
# Only applied to OneMap's own code: the vendored libraries carry example and default URLs in strings that
# they never fetch unless a page asks them to (and a page asking them to is caught here).
SCRIPT_LOADS = [
    re.compile(r"\b(?:import|importScripts|fetch|Worker|SharedWorker|EventSource|WebSocket)\s*\(\s*"
               + Q + URL),
    re.compile(r"\b(?:from|import)\s+" + Q + URL),
    re.compile(r"\.(?:src|href)\s*=\s*" + Q + URL),
    re.compile(r"\.open\(\s*" + Q + r"[A-Za-z]+" + Q + r"\s*,\s*" + Q + URL),
    re.compile(r"\b(?:tileLayer|TileLayer|imageOverlay|ImageOverlay)(?:\.wms|\.WMS)?\s*\(\s*" + Q + URL),
    re.compile(r"\b(?:url|urls|tileUrl|tileUrlFunction|src)\s*:\s*\[?\s*" + Q + URL),
]
LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
ATTR = re.compile(r"""\b(?P<name>rel|href|as)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s>]+))""", re.I)
# <link rel=...> values that make the browser fetch (or connect to) the target.
LOADING_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "apple-touch-icon-precomposed",
                "mask-icon", "manifest", "preload", "modulepreload", "prefetch", "prerender", "preconnect",
                "dns-prefetch", "import"}
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
# Licence and banner comments of the vendored libraries (/*! ... */, /** ... */, or a comment opening a line).
LIBRARY_COMMENT = re.compile(r"/\*[!*][\s\S]*?\*/|^[ \t]*/\*[\s\S]*?\*/", re.M)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    url: str
    context: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: loads {self.url}  <- {self.context}"


def is_remote(url: str, site: str | None = None) -> bool:
    """Whether `url` names a host other than this machine or the site's own origin (`site`: "host:port")."""
    if "{{" in url or "{%" in url:  # a Jinja expression decides the host at render time
        return False
    netloc = url.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if site and netloc.lower() == site.lower():
        return False
    host = netloc[: netloc.index("]") + 1] if netloc.startswith("[") and "]" in netloc else netloc.split(":", 1)[0]
    return host.lower() not in LOCAL_HOSTS and not host.startswith("127.")


def _link_attrs(tag: str) -> dict[str, str]:
    return {m["name"].lower(): next(v for v in (m["dq"], m["sq"], m["bare"]) if v is not None)
            for m in ATTR.finditer(tag)}


def find_external_loads(text: str, path: str = "<text>", *, scripts: bool = True,
                        library: bool = False, site: str | None = None) -> list[Finding]:
    """Every place in `text` that makes a browser fetch from a host other than this machine.

    `site` ("host:port") is the origin of a rendered page, whose own absolute URLs are local. `scripts` adds the JavaScript patterns (fetch, import, tile layers, ...); `library` first drops the licence
    comments of a vendored library. Jinja comments are always dropped.
    """
    text = JINJA_COMMENT.sub(lambda m: "\n" * m[0].count("\n"), text)
    if library:
        text = LIBRARY_COMMENT.sub(lambda m: "\n" * m[0].count("\n"), text)
    hits: list[tuple[int, str]] = []
    for pattern in MARKUP_LOADS + STYLE_LOADS + (SCRIPT_LOADS if scripts else []):
        hits += [(m.start("url"), m["url"]) for m in pattern.finditer(text)]
    for m in LINK_TAG.finditer(text):
        attrs = _link_attrs(m[0])
        href = attrs.get("href", "")
        rels = set(attrs.get("rel", "").lower().split())
        loads = not rels or rels & LOADING_RELS or "as" in attrs
        if href.startswith(("http:", "https:", "//")) and loads:
            hits.append((m.start(), href))
    findings = []
    for offset, url in sorted(set(hits)):
        if is_remote(url, site):
            line_no = text.count("\n", 0, offset) + 1
            line = text.splitlines()[line_no - 1].strip() if text else ""
            findings.append(Finding(path, line_no, url, line[:160]))
    return findings


def _web_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if p.is_file() and p.suffix.lower() in WEB_SUFFIXES)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def own_files() -> list[Path]:
    files = _web_files(OVERRIDES)
    for base in OWN_DIRS:
        if base.is_dir():
            files += [p for p in _web_files(base) if not p.is_relative_to(VENDOR)]
    return files


# --- the checker itself -------------------------------------------------------------------------------------

BAD = [
    '<script src="https://unpkg.com/leaflet@1.9.4/dist/leaflet.js"></script>',
    "<script src='//cdn.jsdelivr.net/npm/ol@10/dist/ol.js'></script>",
    "<img src=https://example.com/logo.png>",
    '<link rel="stylesheet" href="https://unpkg.com/bootstrap@5.1.3/dist/css/bootstrap.min.css">',
    '<link href="https://fonts.googleapis.com/css?family=Roboto" rel="stylesheet">',
    '<link rel="preload" as="font" href="https://fonts.gstatic.com/s/roboto.woff2">',
    '<link rel="shortcut icon" href="https://example.com/favicon.ico">',
    "body { background: url(https://example.com/bg.png); }",
    "@import url('https://fonts.googleapis.com/css2?family=Noto+Sans+SC');",
    '@import "https://example.com/theme.css";',
    "L.tileLayer('https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png').addTo(map);",
    "new ol.source.XYZ({url: 'https://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY'})",
    "fetch(`https://api.example.com/geocode?q=${q}`)",
    'import * as echarts from "https://esm.sh/echarts@5";',
    "script.src = 'https://example.com/tracker.js';",
    '<svg><image href="https://example.com/icon.png"/></svg>',
]
GOOD = [
    '<a title="pygeoapi" href="https://pygeoapi.io">pygeoapi</a>',
    '<link rel="canonical" href="https://onemap.example/ogcapi?f=html">',
    '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">',
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"></svg>',
    """.x { background-image: url("data:image/svg+xml,%3csvg xmlns='http://www.w3.org/2000/svg'%3e"); }""",
    "<script src=\"{{ onemap.vendor('leaflet/leaflet.js') }}\"></script>",
    "<script src=\"{{ config['server']['url'] }}/static/js/default.js\"></script>",
    "{% if link['rel'] == 'http://www.opengis.net/def/rel/ogc/1.0/map' %}",
    '<script src="/static/vendor/ol/ol.js"></script>',
    '<script src="http://localhost:8000/static/vendor/ol/ol.js"></script>',
    "{# was: <script src=\"https://unpkg.com/leaflet@1.3.1/dist/leaflet.js\"></script> #}",
    "<link rel=\"{{ link['rel'] }}\" type=\"{{ link['type'] }}\" href=\"{{ link['href'] }}\"/>",
]


@pytest.mark.parametrize("snippet", BAD)
def test_checker_flags_remote_loads(snippet: str) -> None:
    assert find_external_loads(snippet), snippet


@pytest.mark.parametrize("snippet", GOOD)
def test_checker_ignores_links_namespaces_and_local_urls(snippet: str) -> None:
    assert find_external_loads(snippet) == []


def test_checker_fails_on_a_template_with_a_cdn_script(tmp_path: Path) -> None:
    bad = tmp_path / "collections" / "items" / "item.html"
    bad.parent.mkdir(parents=True)
    bad.write_text('{% extends "_base.html" %}\n{% block extrahead %}\n'
                   '    <script src="https://unpkg.com/leaflet@1.3.1/dist/leaflet.js"></script>\n'
                   "{% endblock %}\n", encoding="utf-8")
    findings = find_external_loads(bad.read_text(encoding="utf-8"), str(bad))
    assert [(f.line, f.url) for f in findings] == [(3, "https://unpkg.com/leaflet@1.3.1/dist/leaflet.js")]
    assert "unpkg.com" in str(findings[0])


# --- 1. nothing we serve loads from the internet ------------------------------------------------------------

def test_own_templates_and_static_files_load_nothing_remote() -> None:
    files = own_files()
    assert any(p.is_relative_to(OVERRIDES) for p in files), "no pygeoapi overrides found"
    # the modules' console plug-ins are served as our own scripts: they are read too
    assert ROOT / "emergency" / "static" / "console.js" in files
    findings = [f for p in files for f in find_external_loads(p.read_text(encoding="utf-8"), _rel(p))]
    assert not findings, "remote resources (vendor them under app/static/vendor/):\n" + "\n".join(map(str, findings))


def test_vendored_libraries_load_nothing_remote() -> None:
    files = [p for p in _web_files(VENDOR)]
    assert files, "app/static/vendor/ is empty: run scripts/vendor-assets.sh"
    findings = [f for p in files
                for f in find_external_loads(p.read_text(encoding="utf-8", errors="replace"), _rel(p),
                                             scripts=False, library=True)]
    assert not findings, "\n".join(map(str, findings))


# --- 2. every stock pygeoapi template that loads from the internet is overridden ----------------------------

def _stock_templates() -> list[Path]:
    return sorted(p for p in STOCK.rglob("*") if p.is_file())


def _stock_with_remote_loads() -> dict[str, list[Finding]]:
    found = {}
    for path in _stock_templates():
        rel = str(path.relative_to(STOCK))
        findings = find_external_loads(path.read_text(encoding="utf-8"), f"pygeoapi/templates/{rel}")
        if findings:
            found[rel] = findings
    return found


def test_every_stock_template_with_remote_loads_is_overridden() -> None:
    remote = _stock_with_remote_loads()
    # the checker must see what we know is there, or this test proves nothing
    assert {"_base.html", "collections/items/item.html", "openapi/swagger.html"} <= set(remote)
    missing = {rel: f for rel, f in remote.items() if not (OVERRIDES / rel).is_file()}
    assert not missing, (
        "pygeoapi templates loading remote resources without an override in mapserver/pygeoapi_templates/:\n"
        + "\n".join(str(f) for findings in missing.values() for f in findings))


def test_every_override_replaces_an_existing_stock_template() -> None:
    overrides = {str(p.relative_to(OVERRIDES)) for p in OVERRIDES.rglob("*") if p.is_file()} - HELPERS
    orphans = sorted(rel for rel in overrides if not (STOCK / rel).is_file())
    assert not orphans, f"overrides of templates that pygeoapi no longer has: {orphans}"


# --- 3. what the overrides name is vendored -----------------------------------------------------------------

VENDOR_REFS = [
    re.compile(r"""onemap\.vendor\(\s*["']([^"']+)["']\s*\)"""),
    re.compile(r"""/static/vendor/([^\s"'`<>(){}?#\\]+)"""),
    re.compile(r"""filename\s*=\s*["']vendor/([^"']+)["']"""),  # url_for('static', filename='vendor/...')
]


def test_referenced_vendor_files_exist() -> None:
    refs: dict[str, set[str]] = {}
    for path in own_files():
        text = path.read_text(encoding="utf-8")
        for pattern in VENDOR_REFS:
            for ref in pattern.findall(text):
                refs.setdefault(ref, set()).add(_rel(path))
    assert "leaflet/leaflet.js" in refs and "bootstrap/bootstrap.min.css" in refs
    missing = {ref: sorted(where) for ref, where in refs.items() if not (VENDOR / ref).is_file()}
    assert not missing, f"referenced but not in app/static/vendor/: {missing}"


def test_every_vendored_package_has_its_licence_and_version_listed() -> None:
    versions = (VENDOR / "VERSIONS.txt").read_text(encoding="utf-8")
    listed = {line.split()[0] for line in versions.splitlines() if line.strip() and not line.startswith("#")}
    packages = {p.name for p in VENDOR.iterdir() if p.is_dir()}
    assert packages == listed
    for package in packages:
        licences = [p for p in (VENDOR / package).iterdir() if re.match(r"(MIT-)?LICEN[CS]E", p.name)]
        assert licences, f"{package}: no licence file beside the vendored files"


# --- 4. overrides follow the installed pygeoapi -------------------------------------------------------------

STOCK_HASH = re.compile(r"stock-sha256: ([0-9a-f]{64})")


@pytest.mark.parametrize(
    "rel", sorted(str(p.relative_to(OVERRIDES)) for p in OVERRIDES.rglob("*.html") if p.name not in HELPERS))
def test_override_was_derived_from_the_installed_stock_template(rel: str) -> None:
    recorded = STOCK_HASH.search((OVERRIDES / rel).read_text(encoding="utf-8"))
    assert recorded, f"{rel}: no 'stock-sha256:' line in the header comment"
    actual = hashlib.sha256((STOCK / rel).read_bytes()).hexdigest()
    assert recorded[1] == actual, (
        f"pygeoapi {pygeoapi.__version__} changed templates/{rel}: copy the new stock file, re-apply OneMap's "
        f"changes listed in the override's header, and record stock-sha256: {actual}")


# --- 5. the overrides render offline ------------------------------------------------------------------------

SERVER_URL = "http://onemap.example:8000/prefix/ogcapi"
SITE = "onemap.example:8000"


def _config(map_url: str) -> dict:
    return {
        "server": {"url": SERVER_URL, "encoding": "utf-8", "language": "zh-CN",
                   "map": {"url": map_url, "attribution": "示范市 <b>OneMap</b>"},
                   "templates": {"path": str(OVERRIDES)}, "limits": {"default_items": 10, "max_items": 50}},
        "metadata": {"identification": {"title": "OneMap", "description": "安全生产一张图", "keywords": ["应急"]},
                     "contact": {"email": "gis@example.org"}},
    }


def _render_with(config: dict, template: str, data: dict, locale: str = "zh") -> str:
    # pygeoapi caches the translated config per locale for the whole process; a config of another test
    # must neither leak in nor out
    l10n._cfg_cache.clear()
    # and so does OneMap's per-URL cache (mapserver/pygeoapi_patches.py) once an earlier test built the OGC API app:
    # these configurations share their URL and differ in the basemap
    pygeoapi_patches._TRANSLATED.clear()
    pygeoapi_csp.install()  # as the OGC API mount does: the overrides give inline scripts the response's nonce
    try:
        return render_j2_template(config, config["server"]["templates"], template, data, Locale.parse(locale))
    finally:
        l10n._cfg_cache.clear()
        pygeoapi_patches._TRANSLATED.clear()


def _render(template: str, data: dict, map_url: str = "") -> str:
    return _render_with(_config(map_url), template, data)


FEATURE = {"type": "Feature", "id": "e1", "geometry": {"type": "Point", "coordinates": [117.2, 31.8]},
           "properties": {"name": "示范化工厂"}, "links": [], "title_field": "name", "id_field": "id"}


def test_item_page_uses_vendored_leaflet_under_a_path_prefix() -> None:
    html = _render("collections/items/item.html", FEATURE)
    assert find_external_loads(html, site=SITE) == [], html
    # server.url + '/../static/vendor' resolves to <app root>/static/vendor, prefix included
    assert f'<script src="{SERVER_URL}/../static/vendor/leaflet/leaflet.js">' in html
    assert f'href="{SERVER_URL}/../static/vendor/bootstrap/bootstrap.min.css"' in html
    assert '"Noto Sans CJK SC"' in html
    assert "示范化工厂" in html


@pytest.mark.parametrize(
    ("map_url", "expected"),
    [
        ("", "var basemap = null;"),
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "var basemap = null;"),
        ("//tile.openstreetmap.org/{z}/{x}/{y}.png", "var basemap = null;"),
        ("/basemap/{z}/{x}/{y}.png", 'var basemap = new L.TileLayer("/basemap/{z}/{x}/{y}.png", {maxZoom: 18'),
        ("http://onemap.example:8000/prefix/basemap/{z}/{x}/{y}.png",
         'var basemap = new L.TileLayer("http://onemap.example:8000/prefix/basemap/{z}/{x}/{y}.png"'),
    ],
)
def test_only_a_basemap_served_by_onemap_is_drawn(map_url: str, expected: str) -> None:
    html = _render("collections/items/item.html", FEATURE, map_url)
    assert expected in html
    assert "openstreetmap" not in html.split("<body>", 1)[1]
    assert find_external_loads(html, site=SITE) == []


def test_maps_without_a_basemap_still_have_a_zoom_range() -> None:
    # Offline there is usually no tile layer to set the zoom range; without one Leaflet.markercluster throws
    # "Map has no maxZoom specified" and the items page shows an empty map.
    for path in sorted(OVERRIDES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        uses = text.count("onemap.basemap_layer(")
        assert text.count("setMaxZoom(") >= uses, f"{_rel(path)}: map.setMaxZoom missing next to basemap_layer"
    html = _render("collections/items/index.html", {
        "type": "FeatureCollection", "features": [FEATURE], "links": [], "itemtype": "feature",
        "items_path": f"{SERVER_URL}/collections/x/items", "title_field": "name", "numberMatched": 1})
    assert "map.setMaxZoom(18);" in html and "L.markerClusterGroup" in html


@pytest.mark.parametrize("template", ["openapi/swagger.html", "openapi/redoc.html"])
def test_api_document_pages_use_vendored_swagger_ui(template: str) -> None:
    html = _render(template, {"openapi-document-path": f"{SERVER_URL}/openapi"})
    assert find_external_loads(html, site=SITE) == [], html
    assert f"{SERVER_URL}/../static/vendor/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "validatorUrl: null" in html


def test_asyncapi_page_needs_no_viewer_from_the_internet() -> None:
    html = _render("asyncapi.html", {"asyncapi-document-path": f"{SERVER_URL}/asyncapi"})
    assert find_external_loads(html, site=SITE) == [], html
    assert f"{SERVER_URL}/asyncapi?f=json" in html


def test_vendor_url_can_be_configured() -> None:
    config = _config("")
    config["server"]["templates"]["vendor_url"] = "/assets/vendor/"
    html = _render_with(config, "collections/items/item.html", FEATURE, "en")
    assert '<script src="/assets/vendor/leaflet/leaflet.js">' in html
