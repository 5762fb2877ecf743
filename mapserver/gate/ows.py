"""The gate's adapter for ``/ows`` (MapServer: WMS, WFS, WCS over KVP and XML).

It reads a request exactly as mapserv will: OGC keys are case-insensitive and a key may not be repeated (mapserv
keeps the first of some and the last of others); layer names are compared like MapServer compares them
(case-insensitive, namespace prefix ignored); XML bodies are read the way MapServer reads them
(:mod:`mapserver.gate.owsxml`). The caller's row scope goes to mapserv as runtime substitution values
(:func:`mapserver.mapfile.scope_params`), GetCapabilities answers are cut down to the readable layers, and refusals
are OGC exception reports in the dialect of the service asked for.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from access.policy.classify import Access, BadRequest, Classified, read_body
from access.policy.mounts import Audit, Mount, Refusal, ResponseFilter
from access.policy.rules import Authz, Policy, Target
from mapserver.gate import owsxml
from mapserver.gate.capabilities import filter_capabilities
from mapserver.owscheck import RequestProblem, exception_body, repeated_key

MAX_BODY = 1 << 20  # the /ows bridge's own limit (mapserver/ows.py MAX_BODY)
_WMS_LAYER_KEYS = ("layers", "query_layers", "layer")
_WFS_TYPE_KEYS = ("typenames", "typename")
_WCS_KEYS = ("coverageid", "identifier", "identifiers", "coverage")
WMS_REQUESTS = {"getcapabilities", "getmap", "getfeatureinfo", "getlegendgraphic", "describelayer", "getstyles"}
WFS_REQUESTS = {"getcapabilities", "describefeaturetype", "getfeature", "getpropertyvalue", "liststoredqueries",
                "describestoredqueries"}
WCS_REQUESTS = {"getcapabilities", "describecoverage", "getcoverage"}
# Parameters mapserv would treat as mapfile edits or runtime substitutions: only the gate may set those.
_RESERVED_PARAM = re.compile(r"onemap|^\s*map\s*[._\[]", re.I)
# Filter values on protected layers: parameters are bound or escaped downstream, but a quote, a statement
# separator or a comment opener in a filter value is far more often an attack than a name; refuse and record it.
_SUSPECT_LITERAL = re.compile(r"['\";\\\x00]|--|/\*")
_LITERAL = re.compile(r"<(?:[\w.-]+:)?(Literal|ValueReference|PropertyName)\b[^>]*>(.*?)</", re.S)


class OwsMount(Mount):
    prefix = "/ows"

    def surface(self, service: str | None = None) -> str:
        return (service or "wms").lower()

    def classify(self, environ: dict[str, Any], rest: str, policy: Policy) -> Classified:
        method = (environ.get("REQUEST_METHOD") or "GET").upper()
        return _ows(rest, method, environ.get("QUERY_STRING", "") or "", environ, policy)

    def suspect_filter(self, c: Classified) -> str | None:
        for text in c.filters:
            values = [text] if c.xml_body else [html.unescape(m.group(2)) for m in _LITERAL.finditer(text)]
            for value in values:
                if _SUSPECT_LITERAL.search(value):
                    return value
        return None

    def prepare(self, environ: dict[str, Any], c: Classified, authz: Authz, audit: Audit) -> Refusal | None:
        from mapserver.mapfile import scope_params

        policy = authz.policy
        extra: dict[str, str] = {}
        for name in c.layers():
            if policy.layer_access.get(name) != "public":
                extra.update(scope_params(name, authz.scope(name)))
        if c.describe_all:
            visible = authz.visible_layers()
            if visible != frozenset(policy.layer_access):
                if c.xml_body:
                    return Refusal(400, "MissingParameterValue", "name the feature types to describe",
                                   "请指定要描述的要素类型", locator="TypeName", service=c.service, version=c.version)
                key = "TYPENAME" if (c.version or "2").startswith("1") else "TYPENAMES"
                extra[key] = ",".join(sorted(visible))
        if extra:
            query = environ.get("QUERY_STRING") or ""
            environ["QUERY_STRING"] = (query + "&" if query else "") + urlencode(extra)
        return None

    def response_filter(self, c: Classified) -> ResponseFilter | None:
        return filter_capabilities if c.request == "getcapabilities" else None

    def refusal_body(self, refusal: Refusal, surface: str) -> tuple[bytes, str]:
        return exception_body(RequestProblem(refusal.status, refusal.code, refusal.locator, refusal.message_en,
                                             refusal.service or surface.upper(), refusal.version))


def reject_reserved(params: list[tuple[str, str]], service: str | None, version: str | None) -> None:
    for key, _ in params:
        if _RESERVED_PARAM.search(key):
            raise BadRequest(400, "InvalidParameterValue", key, f"parameter {key!r} is reserved for the server",
                             audit="reserved_parameter", service=service, version=version)


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
        data = read_body(environ, MAX_BODY)
        if data is None:
            raise BadRequest(413, "NoApplicableCode", None, f"request body larger than {MAX_BODY} bytes",
                             service="WFS")
        body = data
        if "x-www-form-urlencoded" in content_type:
            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            body = b""
    for k, v in params:
        kv.setdefault(k.strip().lower(), []).append(v)
    service = (kv.get("service", [""])[0] or "").upper() or None
    version = kv.get("version", [None])[0]
    reject_reserved(params, service, version)
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
        service = "WMS" if request in WMS_REQUESTS - {"getcapabilities"} else None
    out = Classified((service or "wms").lower(), service=service or "WMS", version=version, request=request)
    known = {"WMS": WMS_REQUESTS, "WFS": WFS_REQUESTS, "WCS": WCS_REQUESTS}.get(service or "")
    if not known or request not in known:
        raise BadRequest(400, "OperationNotSupported" if known else "MissingParameterValue", "request",
                         f"unsupported or missing SERVICE/REQUEST ({service}/{request or '-'})",
                         service=service, version=version)
    out.filters += kv.get("filter", [])
    if request == "getcapabilities":
        out.accesses.append(Access("read", Target("service", service.lower())))
        return out
    if service == "WMS":
        names = owsxml.split_names([v for k in _WMS_LAYER_KEYS for v in kv.get(k, [])])
    elif service == "WCS":
        names = owsxml.split_names([v for k in _WCS_KEYS for v in kv.get(k, [])])
    else:
        names = owsxml.split_names([v for k in _WFS_TYPE_KEYS for v in kv.get(k, [])])
        ids = [v for k in ("resourceid", "featureid") for v in kv.get(k, [])]
        stored = kv.get("storedquery_id", [])
        if stored and any(s != owsxml.BY_ID for s in stored):
            raise BadRequest(400, "InvalidParameterValue", "STOREDQUERY_ID", f"only {owsxml.BY_ID} is offered",
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


__all__ = ["MAX_BODY", "WCS_REQUESTS", "WFS_REQUESTS", "WMS_REQUESTS", "OwsMount", "reject_reserved"]
