"""The route inventory and the bad values of the bad-input suite (tests/system/test_bad_input_routes.py).

Routes come from the application itself: the Flask ``url_map``, the OGC API mount's ``url_map``, the OGC requests
the policy gate parses on ``/ows`` (its WMS/WFS/WCS request sets) and MapProxy's ``/tiles`` paths. Path parameters
are filled from the layer registry, the resource kinds and the pygeoapi configuration; query parameters of each
route are the ones its OpenAPI document declares (``/api/openapi.json``, ``/ogcapi/openapi``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from emergency.models import resource_layers
from layers.registry import default_registry
from mapserver.gate import ows as ows_gate

IGNORED_METHODS = {"HEAD", "OPTIONS"}
INT64_OVER = str(1 << 63)
BAD_VALUES = ("NaN", "-Infinity", "-0", "1e400", INT64_OVER, "x" * 5000)
# Sent to each declared parameter on its own (the rest go to all parameters at once): the values that overflow.
EACH_PARAM_VALUES = ("NaN", INT64_OVER, "x" * 5000)
HUGE = "界" * 20000


@dataclass
class Route:
    path: str                      # with the sample values filled in
    method: str
    surface: str                   # rest | page | ogcapi | ows | tiles
    params: list[str] = field(default_factory=list)      # declared query parameters
    body_props: list[str] = field(default_factory=list)  # declared JSON body properties
    string_slots: list[tuple[str, str]] = field(default_factory=list)  # (template with {}, sample) per str param
    int_slots: list[str] = field(default_factory=list)                 # templates with {} per int param
    fixed_query: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def sample_layer() -> str:
    """A public feature layer (anonymous callers reach the service behind it, not only the gate)."""
    return next(layer.id for layer in default_registry() if layer.access == "public")


def _samples(process_id: str) -> dict[str, str]:
    return {"layer_id": sample_layer(), "collection_id": sample_layer(), "kind": next(iter(resource_layers())),
            "process_id": process_id, "tileMatrixSetId": "WebMercatorQuad", "tileMatrix": "12", "tileRow": "1700",
            "tileCol": "3400", "item_id": "1", "job_id": "00000000-0000-0000-0000-000000000000",
            "filename": "console/main.js"}


_PART = re.compile(r"<(?:(?P<conv>[a-zA-Z_]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def _fill(rule: str, samples: dict[str, str]) -> tuple[str, list[tuple[str, str]], list[str]]:
    """(path, string slots, int slots) of a werkzeug rule string."""
    parts: list[tuple[str, str, str]] = []  # (kind, name, value)
    for m in _PART.finditer(rule):
        conv, name = m.group("conv") or "default", m.group("name")
        if conv == "int":
            parts.append(("int", name, "1"))
        elif conv == "any":
            parts.append(("any", name, m.group("args").split(",")[0].strip().strip("'\"")))
        else:
            parts.append(("str", name, samples.get(name, "x")))
    path = rule
    for (_kind, _name, value), m in zip(parts, list(_PART.finditer(rule)), strict=True):
        path = path.replace(m.group(0), value, 1)
    strings, ints = [], []
    for i, (kind, _name, value) in enumerate(parts):
        template = rule
        for j, ((_k, _n, v), m) in enumerate(zip(parts, list(_PART.finditer(rule)), strict=True)):
            template = template.replace(m.group(0), "{}" if j == i else v, 1)
        if kind == "str":
            strings.append((template, value))
        elif kind == "int":
            ints.append(template)
    return path, strings, ints


def _openapi_ops(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path, item in doc.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method == "parameters" or not isinstance(op, dict):
                continue
            out[(path, method.upper())] = {**op, "parameters": [*shared, *op.get("parameters", [])]}
    return out


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _declared(doc: dict[str, Any], op: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    if not op:
        return [], []
    params = [p["name"] for p in (_resolve(doc, p) for p in op.get("parameters", [])) if p.get("in") == "query"]
    body = _resolve(doc, op.get("requestBody", {}))
    schema = _resolve(doc, body.get("content", {}).get("application/json", {}).get("schema", {}))
    return params, sorted(_resolve(doc, schema).get("properties", {}) if isinstance(schema, dict) else {})


def _openapi_template(rule: str) -> str:
    return _PART.sub(lambda m: "{" + m.group("name") + "}", rule)


def flask_routes(app: Any, api_doc: dict[str, Any]) -> Iterator[Route]:
    ops = _openapi_ops(api_doc)
    samples = _samples("x")
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - IGNORED_METHODS):
            path, strings, ints = _fill(rule.rule, samples)
            params, props = _declared(api_doc, ops.get((_openapi_template(rule.rule), method)))
            surface = "rest" if rule.rule.startswith("/api/") else "page"
            yield Route(path, method, surface, params or ["q", "limit", "lang"], props, strings, ints)


def ogcapi_routes(app: Any, ogc_doc: dict[str, Any]) -> Iterator[Route]:
    mount = app.extensions["onemap.mounts"]["/ogcapi"]
    samples = _samples(_first_process())
    ops = _openapi_ops(ogc_doc)
    for rule in mount.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - IGNORED_METHODS):
            path, strings, ints = _fill(rule.rule, samples)
            op = ops.get((path, method)) or ops.get((_openapi_template(rule.rule), method))
            params, props = _declared(ogc_doc, op)
            prefixed = [(f"/ogcapi{t}", v) for t, v in strings]
            yield Route("/ogcapi" + path, method, "ogcapi", params or ["f", "limit"], props, prefixed,
                        [f"/ogcapi{t}" for t in ints])


def _first_process() -> str:
    from access.policy.rules import load_policy

    return sorted(load_policy().processes)[0]


def ows_routes() -> Iterator[Route]:
    """Every request of every service the gate lets through to MapServer, on a public layer."""
    layer = sample_layer()
    for service, requests in (("WMS", ows_gate.WMS_REQUESTS), ("WFS", ows_gate.WFS_REQUESTS),
                              ("WCS", ows_gate.WCS_REQUESTS)):
        for request in sorted(requests):
            names = {"WMS": {"LAYERS": layer, "QUERY_LAYERS": layer, "LAYER": layer},
                     "WFS": {"TYPENAMES": f"onemap:{layer}"}, "WCS": {"COVERAGEID": "population"}}[service]
            fixed = {"SERVICE": service, "REQUEST": request, **names}
            params = ["VERSION", "WIDTH", "HEIGHT", "BBOX", "CRS", "SRS", "FORMAT", "STYLES", "I", "J", "X", "Y",
                      "COUNT", "STARTINDEX", "RESOURCEID", "FILTER", "SUBSET", "SCALESIZE"]
            yield Route("/ows", "GET", "ows", params, [], fixed_query=fixed)
    yield Route(f"/ows/styles/{layer}.sld", "GET", "ows", [], [], [("/ows/styles/{}.sld", layer)])


def tiles_routes() -> Iterator[Route]:
    layer = sample_layer()
    yield Route("/tiles/wmts/1.0.0/WMTSCapabilities.xml", "GET", "tiles", ["SERVICE", "REQUEST"])
    for template in ("/tiles/wmts/{}/webmercator/12/3400/1700.png", "/tiles/tms/1.0.0/{}/webmercator/12/3400/1700.png"):
        yield Route(template.format(layer), "GET", "tiles", ["TIME"], [], [(template, layer)],
                    [template.replace("{}", layer).replace("/12/", "/{}/")])
    yield Route("/tiles/service", "GET", "tiles", ["WIDTH", "HEIGHT", "BBOX", "SRS"],
                fixed_query={"SERVICE": "WMS", "REQUEST": "GetMap", "LAYERS": layer, "FORMAT": "image/png"})


# -- what a well-formed refusal looks like on each surface ---------------------------------------------------------
def error_body_problem(surface: str, response: Any) -> str | None:
    """Why the 4xx ``response`` is not a well-formed error of its surface, or None when it is."""
    ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    data = response.get_data()
    if not data.strip():
        return "empty body"
    if ctype == "text/html":
        return None if surface in ("page", "ogcapi", "tiles") and b"<" in data else f"HTML on {surface}"
    if surface in ("rest", "page"):
        if ctype != "application/problem+json":
            return f"content type {ctype}, not application/problem+json"
        body = json.loads(data)
        if body.get("status") != response.status_code or not body.get("detail") or not body.get("title"):
            return f"problem document without status/title/detail: {body}"
        return None
    if surface == "ogcapi" and "json" in ctype:
        body = json.loads(data)
        return None if body.get("code") and body.get("description") else f"OGC API exception without code: {body}"
    if "xml" in ctype:
        try:
            root = ET.fromstring(data).tag.rsplit("}", 1)[-1]
        except ET.ParseError as exc:
            return f"malformed XML ({exc}): {data[:300]!r}"
        # TileMapServerError: the TMS specification's own error document (MapProxy's /tiles/tms)
        return None if root in ("ExceptionReport", "ServiceExceptionReport", "TileMapServerError") \
            else f"XML root {root}"
    if surface == "tiles" and ctype.startswith("text/plain"):
        return None  # MapProxy's TMS/XYZ refusals are one line of text
    return f"unexpected content type {ctype!r} on {surface}"


# -- the route walk shared by the bad-input and the security-header suites ------------------------------------------
ROLES = ("anonymous", "dispatcher")
# Ends the module's shared session: the signed-in run leaves it out (it is sent anonymously like every route).
SESSION_ENDING = {("POST", "/api/auth/logout"), ("POST", "/auth/logout")}


def walk_app(scratch_db: str, demo_artifacts: Any) -> Any:
    """The app a route walk runs against: a long session and no rate limits (it sends hundreds of requests)."""
    from tests.conftest import lifted_rate_limits
    from tests.integration.auth_support import make_app

    return make_app(scratch_db, demo_artifacts, session={"idle_minutes": 1440},
                    rate_limits=lifted_rate_limits(1_000_000))


def walk_clients(app: Any) -> dict[str, Any]:
    """An anonymous client and one signed in as the dispatcher (a TOTP code is used once per database: each suite
    walks its own clone)."""
    from tests.integration.auth_support import sign_in

    signed = app.test_client()
    sign_in(signed, "dispatcher")
    return {"anonymous": app.test_client(), "dispatcher": signed}
