"""Languages outside the supported set (zh-CN, en) never break a route: every mount answers in the default language.

A browser or a desktop GIS in another language sends ``Accept-Language: fr`` (or ``de``, ``*``, quality weights,
garbage), a user types ``?lang=xx``: pygeoapi used to answer 500 on every ``/ogcapi`` route. The routes are
generated: every GET route of the Flask app (from its URL map), and for each OGC mount a representative request
of each kind it serves (OGC API landing, collections, items, item, queryables, schema, tiles, coverage, processes;
MapServer WMS/WFS/WCS; MapProxy WMTS/TMS/XYZ/WMS). Each is asked anonymously and as the signed-in city dispatcher,
once without a language preference (the default answer) and once per odd value, as a header and as ``lang``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa
from lxml import html as lxml_html

from layers.registry import default_registry
from mapserver.mapproxy_config import tiled_layers
from tests.system.test_permission_matrix import xyz

REGISTRY = default_registry()
# Outside the supported set, or malformed: each must get the default language (English tags are left out on
# purpose, except where a zero weight says "not English").
ODD_HEADERS = ["fr", "de-DE,de;q=0.9", "xx", "zh", "zh-Hant-TW", "*", "fr;q=0", "en;q=0, fr", "fr;q=abc",
               "fr;q=1.5", ";q=0.5,,;", "i-klingon", "x" * 4000, "   "]
ODD_PARAMS = ["xx", "de", "zh", "*", "", "fr;q=0", "中文", "y" * 2000]
# MapServer and MapProxy read no language (only the gate's and the authentication's refusals do, through the same
# parser the Flask routes above are walked with, every odd value) and each of their answers starts a renderer: they
# get one malformed header, one oversized header, one odd parameter, and both at once ("both" below).
RENDERER_HEADERS = ["fr;q=abc", "x" * 4000]
RENDERER_PARAMS = ["中文"]
VOLATILE_KEYS = {"timeStamp", "request_id"}
LANG_IN_LINK = re.compile(r"([?&])lang=[^&\"<]*&?")  # pygeoapi repeats the query (with lang) in its links
SKIPPED_ENDPOINTS = {"events.stream"}  # a live stream that never ends (it reads no language either)
EXAMPLE_ARGS = {"kind": "rescue_team", "action": "unlock", "filename": "console/console.css"}


def _first(layer_filter: Any) -> Any:
    return next(layer for layer in REGISTRY if layer_filter(layer))


def flask_routes(app: Any, ids: dict[str, int]) -> list[str]:
    """Every GET route of the Flask app with example arguments (ids of real rows where the name says which)."""
    adapter = app.url_map.bind("testserver")
    paths = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        values: dict[str, Any] = {}
        for name in rule.arguments:
            if name in EXAMPLE_ARGS:
                values[name] = EXAMPLE_ARGS[name]
            elif name == "layer_id":
                values[name] = _first(lambda layer: layer.access != "public").id
            else:
                values[name] = ids.get(name, 1)
        paths.add(adapter.build(rule.endpoint, values, method="GET"))
    return sorted(paths)


def ogc_routes(ids: dict[str, int]) -> list[str]:
    """A representative request of each kind the OGC mounts serve, on layers picked from the registry."""
    public = _first(lambda layer: layer.access == "public" and layer.raster_tiles)
    vector = _first(lambda layer: layer.mvt)
    lon, lat = ids["lon"], ids["lat"]
    x, y, _, _ = xyz(lon, lat, 14)
    small = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
    wms = {"SERVICE": "WMS", "VERSION": "1.3.0", "CRS": "EPSG:4326", "BBOX": f"{lat - 0.01},{lon - 0.01},"
           f"{lat + 0.01},{lon + 0.01}", "WIDTH": "64", "HEIGHT": "64", "LAYERS": public.id, "STYLES": "",
           "FORMAT": "image/png"}
    routes = ["/ogcapi", "/ogcapi/?f=html", "/ogcapi/conformance", "/ogcapi/collections?f=json",
              "/ogcapi/collections?f=html", "/ogcapi/TileMatrixSets?f=json", "/ogcapi/openapi?f=json",
              "/ogcapi/processes?f=json", "/ogcapi/processes/coordinate-convert?f=json", "/ogcapi/jobs?f=json",
              "/ogcapi/collections/population?f=json", f"/ogcapi/collections/population/coverage?f=json&bbox={small}"]
    for layer in (public, vector):
        base = f"/ogcapi/collections/{layer.id}"
        routes += [f"{base}?f=json", f"{base}/items?f=json&limit=2", f"{base}/items?f=html&limit=2",
                   f"{base}/items/{ids[layer.id]}?f=json", f"{base}/queryables?f=json", f"{base}/schema?f=json"]
    tiles = f"/ogcapi/collections/{vector.id}/tiles"
    routes += [f"{tiles}?f=json", f"{tiles}/WebMercatorQuad?f=json", f"{tiles}/WebMercatorQuad/metadata?f=json",
               f"{tiles}/WebMercatorQuad/14/{y}/{x}?f=mvt"]
    routes += ["/ows?" + urlencode(q) for q in (
        {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"},
        {**wms, "REQUEST": "GetMap"},
        {**wms, "REQUEST": "GetFeatureInfo", "QUERY_LAYERS": public.id, "I": "32", "J": "32",
         "INFO_FORMAT": "application/vnd.ogc.gml"},
        {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetCapabilities"},
        {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": public.id,
         "RESULTTYPE": "hits"},
        {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCapabilities"},
        {"SERVICE": "WMS", "VERSION": "1.3.0"},  # no REQUEST: an OGC exception report
    )]
    tx, ty, _, _ = xyz(lon, lat, 12)
    for layer in tiled_layers(REGISTRY)[:2]:
        routes += [f"/tiles/wmts/{layer}/webmercator/12/{tx}/{ty}.png",
                   f"/tiles/tms/1.0.0/{layer}/webmercator/12/{tx}/{2 ** 12 - 1 - ty}.png"]
    routes += ["/tiles/wmts/1.0.0/WMTSCapabilities.xml", "/tiles/service?SERVICE=WMS&REQUEST=GetCapabilities",
               "/tiles/wmts/no_such_layer/webmercator/1/0/0.png"]
    return routes


@pytest.fixture(scope="module")
def ids(db: sa.Engine) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with db.connect() as conn:
        for layer in REGISTRY:
            out[layer.id] = conn.execute(sa.text(f'SELECT min("{layer.id_field}") FROM "{layer.table}"')).scalar()
        out["incident_id"] = out["incidents"]
        out["depot_id"] = out["depots"]
        out["feature_id"] = out[_first(lambda layer: layer.access != "public").id]
        out["lon"], out["lat"] = conn.execute(sa.text("SELECT st_x(geom), st_y(geom) FROM enterprises "
                                                      "ORDER BY id LIMIT 1")).one()
    return out


class WithHeaders:
    """A test client that sends ``headers`` with every request (a client with a stale or wrong API token)."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers={**self.headers, **(headers or {})}, **kw)


@pytest.fixture(scope="module")
def clients(app_factory_module: Any, user_client: Any) -> dict[str, Any]:
    return {"anonymous": app_factory_module.test_client(), "dispatcher": user_client,
            "revoked_token": WithHeaders(app_factory_module.test_client(), {"Authorization": "Bearer om_revoked"})}


def signature(response: Any) -> tuple[Any, ...]:
    """What a language could change in an answer: status, type, Content-Language and the body (for HTML, its
    language and title; volatile stamps removed)."""
    head = (response.status_code, response.mimetype, response.headers.get("Content-Language"))
    if response.mimetype == "text/event-stream":
        response.close()
        return head
    data = response.get_data()
    if "json" in response.mimetype:
        def strip(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: strip(v) for k, v in node.items() if k not in VOLATILE_KEYS}
            return [strip(v) for v in node] if isinstance(node, list) else node

        body: Any = LANG_IN_LINK.sub(r"\1", json.dumps(strip(json.loads(data)), sort_keys=True))
    elif response.mimetype == "text/html":
        doc = lxml_html.fromstring(data or b"<html/>")
        body = (doc.get("lang"), doc.findtext(".//title"))
    elif "xml" in response.mimetype:
        body = re.sub(rb'timeStamp="[^"]*"', b"", data)
    else:
        body = hashlib.sha256(data).hexdigest()
    return (*head, body)


def variants(path: str) -> list[tuple[str, dict[str, str], str | None]]:
    """(label, headers, lang value or None) for every odd language: as a header, as ``lang``, and both at once."""
    renderer = path.startswith(("/ows", "/tiles"))
    out: list[tuple[str, dict[str, str], str | None]] = [
        (f"header {v[:20]!r}", {"Accept-Language": v}, None) for v in (RENDERER_HEADERS if renderer else ODD_HEADERS)]
    out += [(f"lang {v[:20]!r}", {}, v) for v in (RENDERER_PARAMS if renderer else ODD_PARAMS)]
    out.append(("both", {"Accept-Language": "de;q=0.8, fr"}, "xx"))
    return out


def with_lang(path: str, lang: str | None) -> str:
    if lang is None:
        return path
    return path + ("&" if "?" in path else "?") + "lang=" + quote(lang)


def check_route(client: Any, path: str) -> None:
    """Each odd preference gets the answer of no preference (as a header) or of ``lang=zh-CN`` (as a parameter,
    which some JSON APIs refuse as unknown whatever its value), and that answer is in the default language."""
    baseline = client.get(path, buffered=False)
    assert baseline.status_code < 500, (path, baseline.get_data()[:300])
    want = {False: signature(baseline), True: signature(client.get(with_lang(path, "zh-CN"), buffered=False))}
    english = signature(client.get(with_lang(path, "en"), buffered=False))
    if want[False][2] is not None and want[False][2] != english[2]:  # pygeoapi negotiated the language
        assert want[False][2].startswith("zh"), (path, want[False][2])
    if baseline.mimetype == "text/html" and baseline.status_code < 300:
        assert (want[False][3][0] or "zh").startswith("zh"), (path, want[False][3])
    failures = []
    for label, headers, lang in variants(path):
        response = client.get(with_lang(path, lang), headers=headers, buffered=False)
        got, expected = signature(response), want[lang is not None]
        if got != expected:
            failures.append((label, got[:3], str(got[3:])[:200], expected[:3]))
    assert not failures, (path, failures)


@pytest.mark.parametrize("who", ["anonymous", "dispatcher"])
def test_flask_routes_answer_odd_languages_in_the_default_language(clients: dict[str, Any], ids: dict[str, Any],
                                                                   app_factory_module: Any, who: str) -> None:
    routes = flask_routes(app_factory_module, ids)
    assert any(r.startswith("/api/") for r in routes) and "/" in routes
    for path in routes:
        check_route(clients[who], path)


@pytest.mark.parametrize("who", ["anonymous", "dispatcher"])
@pytest.mark.parametrize("mount", ["/ogcapi", "/ows", "/tiles"])
def test_ogc_mounts_answer_odd_languages_in_the_default_language(clients: dict[str, Any], ids: dict[str, Any],
                                                                 who: str, mount: str) -> None:
    routes = [r for r in ogc_routes(ids) if r == mount or r.startswith((mount + "/", mount + "?"))]
    assert routes
    for path in routes:
        check_route(clients[who], path)


@pytest.mark.parametrize("mount", ["/", "/api/", "/ogcapi", "/ows", "/tiles"])
def test_refused_credentials_are_explained_in_the_default_language(clients: dict[str, Any], ids: dict[str, Any],
                                                                   app_factory_module: Any, mount: str) -> None:
    """The authentication layer answers bad credentials itself (before any route): in the default language too."""
    routes = flask_routes(app_factory_module, ids) + ogc_routes(ids)
    path = next(r for r in routes if r == mount or r.startswith(mount) and (mount != "/" or not r.startswith("/api/")))
    assert clients["revoked_token"].get(path).status_code == 401
    check_route(clients["revoked_token"], path)


def test_english_is_still_served_where_it_is_offered(clients: dict[str, Any], ids: dict[str, Any]) -> None:
    """The comparison above sees the language: asking for English does change the answers that have one."""
    client = clients["dispatcher"]
    negotiated = 0
    for path in [r for r in ogc_routes(ids) if r.startswith("/ogcapi") and ("f=json" in r or "f=html" in r)]:
        default, english = client.get(path), client.get(with_lang(path, "en"))
        if default.status_code == 200 and (default.headers.get("Content-Language") or "").startswith("zh"):
            negotiated += 1
            assert english.headers["Content-Language"].startswith("en"), path
            assert signature(english) != signature(default), path
    assert negotiated >= 5
    for path in ("/", "/screen"):  # the pages switch language by ?lang= only
        default, english = client.get(path), client.get(with_lang(path, "en"))
        assert signature(english) != signature(default), path
