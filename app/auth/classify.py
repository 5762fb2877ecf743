"""What a request asks for, in policy terms: (action, target) pairs, parsed the way the backend will parse it.

The gate must read a request exactly as the service behind it does, or a request could say one thing to the gate
and another to the service. So: the mount is chosen like werkzeug's DispatcherMiddleware chooses it; OGC keys are
case-insensitive and a key may not be repeated (mapserv keeps the first of some and the last of others); layer names
are compared like MapServer compares them (case-insensitive, namespace prefix ignored); WFS/WCS POST bodies are read
the way MapServer reads them (``app.auth.owsxml``); anything the classifier does not recognise yields no permission.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from app.auth import owsxml
from app.auth.policy import Policy, Target
from mapserver.owscheck import repeated_key

MOUNTS = ("/ogcapi", "/ows", "/tiles")
MAX_OWS_BODY = 1 << 20  # the /ows bridge's own limit (mapserver/ows.py MAX_BODY)
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_ID = r"[A-Za-z0-9_-]+"
_OGCAPI_SERVICE = re.compile(r"^(/|/openapi|/conformance|/collections|/processes|/TileMatrixSets(/[\w.-]+)?|/static/.*)?$")
_OGCAPI_COLLECTION = re.compile(rf"^/collections/(?P<c>{_ID})(?P<rest>(/.*)?)$")
_OGCAPI_PROCESS = re.compile(rf"^/processes/(?P<p>{_ID})(?P<exec>/execution)?$")
_WMS_LAYER_KEYS = ("layers", "query_layers", "layer")
_WFS_TYPE_KEYS = ("typenames", "typename")
_WCS_KEYS = ("coverageid", "identifier", "identifiers", "coverage")
_WMS_REQUESTS = {"getcapabilities", "getmap", "getfeatureinfo", "getlegendgraphic", "describelayer", "getstyles"}
_WFS_REQUESTS = {"getcapabilities", "describefeaturetype", "getfeature", "getpropertyvalue", "liststoredqueries",
                 "describestoredqueries"}
_WCS_REQUESTS = {"getcapabilities", "describecoverage", "getcoverage"}
_BY_ID = owsxml.BY_ID
# Parameters mapserv would treat as mapfile edits or runtime substitutions: only the gate may set those.
_RESERVED_PARAM = re.compile(r"onemap|^\s*map\s*[._\[]", re.I)


class BadRequest(Exception):
    """The request cannot be classified; answered without reaching the service (``audit``: a likely attack)."""

    def __init__(self, status: int, code: str, locator: str | None, message: str, *, audit: str | None = None,
                 service: str | None = None, version: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.locator, self.message = status, code, locator, message
        self.audit, self.service, self.version = audit, service, version


@dataclass
class Access:
    action: str
    target: Target


@dataclass
class Classified:
    surface: str                     # page | rest | ogcapi | wms | wfs | wcs | tiles
    accesses: list[Access] = field(default_factory=list)
    service: str | None = None       # OGC dialect for exception reports
    version: str | None = None
    request: str | None = None       # OGC request, lower case
    item: str | None = None          # an object addressed by id (WFS: comma-separated ``layer.id`` values)
    filters: list[str] = field(default_factory=list)  # client filter texts (FE literals, CQL)
    describe_all: bool = False       # WFS DescribeFeatureType without type names
    xml_body: bool = False

    @property
    def ogc(self) -> bool:
        return self.surface not in ("page", "rest")

    @property
    def export(self) -> bool:
        return any(a.action == "export" for a in self.accesses)

    def layers(self) -> list[str]:
        return [a.target.name for a in self.accesses if a.target.kind == "layer"]


def mount_of(path: str) -> tuple[str | None, str]:
    """(mount, path inside it), as DispatcherMiddleware picks it; (None, path) for the Flask app."""
    for mount in MOUNTS:
        if path == mount or path.startswith(mount + "/"):
            return mount, path[len(mount):]
    return None, path


def classify(environ: dict[str, Any], policy: Policy) -> Classified:
    path = environ.get("PATH_INFO", "") or "/"
    method = (environ.get("REQUEST_METHOD") or "GET").upper()
    query = environ.get("QUERY_STRING", "") or ""
    mount, rest = mount_of(path)
    if mount == "/ogcapi":
        return _ogcapi(rest or "/", method, query, environ, policy)
    if mount == "/ows":
        return _ows(rest, method, query, environ, policy)
    if mount == "/tiles":
        _reject_reserved(parse_qsl(query, keep_blank_values=True), "WMTS", None)
        return Classified("tiles", [Access("read", Target("service", "tiles"))], service="WMTS")
    return _flask(path, method, policy)


# -- Flask routes ---------------------------------------------------------------------------------------------------
def _flask(path: str, method: str, policy: Policy) -> Classified:
    route = policy.route(path)
    if route is None:
        return Classified("page" if not path.startswith("/api/") else "rest")  # no access: denied
    segments = path.strip("/").split("/")
    if route.action:
        action = route.action
    elif any(s == "export" or s.startswith("export.") for s in segments):
        action = "export"
    else:
        action = "read" if method in _SAFE_METHODS else "write"
    surface = "rest" if path.startswith("/api/") else "page"
    return Classified(surface, [Access(action, Target(route.kind, route.name))])


# -- OGC API (pygeoapi) ---------------------------------------------------------------------------------------------
def _ogcapi(rest: str, method: str, query: str, environ: dict[str, Any], policy: Policy) -> Classified:
    rest = re.sub(r"/{2,}", "/", rest)
    rest = rest[:-1] if len(rest) > 1 and rest.endswith("/") else rest
    params = parse_qsl(query, keep_blank_values=True)
    out = Classified("ogcapi")
    if method not in _SAFE_METHODS | {"POST", "PUT", "DELETE"}:
        return out
    if _OGCAPI_SERVICE.match(rest) and method in _SAFE_METHODS:
        out.accesses.append(Access("read", Target("service", "ogcapi")))
        return out
    if rest == "/jobs" or rest.startswith("/jobs/"):
        out.accesses.append(Access("read" if method in _SAFE_METHODS else "write", Target("service", "jobs")))
        return out
    if m := _OGCAPI_PROCESS.match(rest):
        if m.group("exec") and method == "POST":
            out.accesses.append(Access("execute", Target("process", m.group("p"))))
        elif not m.group("exec") and method in _SAFE_METHODS:
            out.accesses.append(Access("read", Target("process", m.group("p"))))
        return out
    m = _OGCAPI_COLLECTION.match(rest)
    if not m:
        return out
    name, sub = m.group("c"), m.group("rest")
    if name in policy.coverage_access:
        if method in _SAFE_METHODS:
            out.accesses.append(Access("read", Target("coverage", name)))
        return out
    target = Target("layer", name)
    if sub in ("", "/schema", "/queryables") or sub.startswith("/tiles"):
        if method in _SAFE_METHODS:
            out.accesses.append(Access("read", target))
        return out
    if sub == "/items":
        content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if method == "POST" and content_type == "application/geo+json":
            out.accesses.append(Access("write", target))
        elif method in _SAFE_METHODS or method == "POST":
            out.accesses.append(Access("read", target))
            out.filters += [v for k, v in params if k.lower() == "filter"]
            if _wants_csv(params, environ):
                out.accesses.append(Access("export", target))
        return out
    if item := re.fullmatch(r"/items/([^/]+)", sub):
        out.item = item.group(1)
        out.accesses.append(Access("read" if method in _SAFE_METHODS else "write", target))
        if method in _SAFE_METHODS and _wants_csv(params, environ):
            out.accesses.append(Access("export", target))
    return out


def _wants_csv(params: list[tuple[str, str]], environ: dict[str, Any]) -> bool:
    f = [v.lower() for k, v in params if k == "f"]
    if f:
        return any("csv" in v for v in f)
    return "csv" in (environ.get("HTTP_ACCEPT") or "").lower()


# -- MapServer (/ows): WMS, WFS, WCS over KVP and XML ---------------------------------------------------------------
def _reject_reserved(params: list[tuple[str, str]], service: str | None, version: str | None) -> None:
    for key, _ in params:
        if _RESERVED_PARAM.search(key):
            raise BadRequest(400, "InvalidParameterValue", key, f"parameter {key!r} is reserved for the server",
                             audit="reserved_parameter", service=service, version=version)


def read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """Read the body (at most ``limit`` bytes; None if larger) and put it back for the service behind."""
    stream = environ.get("wsgi.input")
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if length:
        try:
            n = int(length)
        except ValueError:
            return None
        if n < 0 or n > limit:
            return None
        data = stream.read(n) if stream is not None and n else b""
    else:
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            return None
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    return data


_split_names = owsxml.split_names


def _targets(policy: Policy, names: list[str]) -> list[Access]:
    out = []
    for name in dict.fromkeys(names):
        kind = "coverage" if name in policy.coverage_access else "layer"
        out.append(Access("read", Target(kind, name)))  # an unknown name matches no rule: denied
    return out


def _ows(rest: str, method: str, query: str, environ: dict[str, Any], policy: Policy) -> Classified:
    params = parse_qsl(query, keep_blank_values=True)
    kv: dict[str, list[str]] = {}
    if rest not in ("", "/"):
        m = re.fullmatch(r"/styles/([a-z][a-z0-9_]*)\.sld", rest)
        out = Classified("wms", service="WMS")
        if m and method in ("GET", "HEAD"):
            out.accesses.append(Access("read", Target("layer", m.group(1))))
        return out
    body = b""
    content_type = (environ.get("CONTENT_TYPE") or "").lower()
    if method == "POST":
        data = read_body(environ, MAX_OWS_BODY)
        if data is None:
            raise BadRequest(413, "NoApplicableCode", None, f"request body larger than {MAX_OWS_BODY} bytes",
                             service="WFS")
        body = data
        if "x-www-form-urlencoded" in content_type:
            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            body = b""
    for k, v in params:
        kv.setdefault(k.strip().lower(), []).append(v)
    service = (kv.get("service", [""])[0] or "").upper() or None
    version = kv.get("version", [None])[0]
    _reject_reserved(params, service, version)
    if (key := repeated_key(params)) is not None:
        # mapserv keeps the first of some repeated keys and the last of others: one value per key, or no answer
        raise BadRequest(400, "InvalidParameterValue", key.strip().upper(), f"parameter {key.strip().upper()} is "
                         "given more than once: send each parameter once", audit="repeated_parameter",
                         service=service, version=version)
    if "cql_filter" in kv:
        raise BadRequest(400, "InvalidParameterValue", "CQL_FILTER", "CQL_FILTER is not supported here; use FILTER "
                         "(OGC Filter Encoding)", audit="unsupported_filter", service=service, version=version)
    if body.strip():
        if set(kv) - {"service", "version"}:
            # mapserv reads the query string of a POST too: the request must say one thing, in one place
            raise BadRequest(400, "InvalidParameterValue", "request", "send an OGC request either as KVP or as an "
                             "XML body, not both", audit="mixed_request", service=service, version=version)
        return _ows_xml(body, policy, service, version)
    request = (kv.get("request", [""])[0] or "").lower()
    if service is None:
        service = "WMS" if request in _WMS_REQUESTS - {"getcapabilities"} else None
    out = Classified((service or "wms").lower(), service=service or "WMS", version=version, request=request)
    known = {"WMS": _WMS_REQUESTS, "WFS": _WFS_REQUESTS, "WCS": _WCS_REQUESTS}.get(service or "")
    if not known or request not in known:
        raise BadRequest(400, "OperationNotSupported" if known else "MissingParameterValue", "request",
                         f"unsupported or missing SERVICE/REQUEST ({service}/{request or '-'})",
                         service=service, version=version)
    out.filters += kv.get("filter", [])
    if request == "getcapabilities":
        out.accesses.append(Access("read", Target("service", service.lower())))
        return out
    if service == "WMS":
        names = _split_names([v for k in _WMS_LAYER_KEYS for v in kv.get(k, [])])
    elif service == "WCS":
        names = _split_names([v for k in _WCS_KEYS for v in kv.get(k, [])])
    else:
        names = _split_names([v for k in _WFS_TYPE_KEYS for v in kv.get(k, [])])
        ids = [v for k in ("resourceid", "featureid") for v in kv.get(k, [])]
        stored = kv.get("storedquery_id", [])
        if stored and any(s != _BY_ID for s in stored):
            raise BadRequest(400, "InvalidParameterValue", "STOREDQUERY_ID", f"only {_BY_ID} is offered",
                             service=service, version=version)
        if stored:
            ids += kv.get("id", [])
        if ids:
            out.item = ",".join(ids)
        names += [i.rsplit(".", 1)[0].rsplit(":", 1)[-1].lower() for v in ids for i in v.split(",") if i.strip()]
        if not names and request == "describefeaturetype":
            out.describe_all = True
            out.accesses.append(Access("read", Target("service", "wfs")))
            return out
        if not names and request in ("describestoredqueries", "liststoredqueries"):
            out.accesses.append(Access("read", Target("service", "wfs")))
            return out
    if not names:
        raise BadRequest(400, "MissingParameterValue", "LAYERS" if service == "WMS" else "TYPENAMES",
                         "name the layers (feature types, coverages) to read", service=service, version=version)
    out.accesses += _targets(policy, names)
    return out


def _ows_xml(body: bytes, policy: Policy, service: str | None, version: str | None) -> Classified:
    try:
        xml = owsxml.read(body, version)
    except owsxml.XmlProblem as exc:
        raise BadRequest(400, exc.code, exc.locator, exc.message, audit=exc.audit, service=service or "WFS",
                         version=version) from None
    out = Classified(xml.service.lower(), service=xml.service, version=xml.version, request=xml.request,
                     item=xml.item, filters=xml.filters, xml_body=True)
    if xml.request == "getcapabilities":
        out.accesses.append(Access("read", Target("service", xml.service.lower())))
        return out
    if xml.describe_all:
        out.describe_all = True
        out.accesses.append(Access("read", Target("service", "wfs")))
        return out
    if not xml.names:
        raise BadRequest(400, "MissingParameterValue", "typeNames", "name the feature types (coverages) to read",
                         service=xml.service, version=xml.version)
    out.accesses += _targets(policy, xml.names)
    return out


__all__ = ["Access", "BadRequest", "Classified", "MAX_OWS_BODY", "classify", "mount_of", "read_body"]
