"""The gate's adapter for ``/ogcapi`` (pygeoapi): which collection, process or job a request is for, and how
pygeoapi says no (an OGC API exception: ``{"code", "type", "description"}``).

pygeoapi takes the caller's row scope from the bound :class:`~access.policy.rules.Authz` (its providers read
``current_authz()``), so nothing is added to the request here.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from access.policy.classify import SAFE_METHODS, Access, Classified
from access.policy.mounts import Mount, Refusal
from access.policy.rules import Policy, Target

_ID = r"[A-Za-z0-9_-]+"
_OGCAPI_SERVICE = re.compile(r"^(/|/openapi|/conformance|/collections|/processes|/TileMatrixSets(/[\w.-]+)?|/static/.*)?$")
_OGCAPI_COLLECTION = re.compile(rf"^/collections/(?P<c>{_ID})(?P<rest>(/.*)?)$")
_OGCAPI_PROCESS = re.compile(rf"^/processes/(?P<p>{_ID})(?P<exec>/execution)?$")
# Filter values on protected layers: CQL text is parsed by pygeoapi into bound SQL, but a statement separator or a
# comment opener in it is far more often an attack than a query; the gate refuses and records it.
_SUSPECT_CQL = re.compile(r";|--|/\*|\x00")


class OgcApiMount(Mount):
    prefix = "/ogcapi"
    reads_json_bodies = True  # processes and item writes parse the body as JSON whatever type it declares

    def classify(self, environ: dict[str, Any], rest: str, policy: Policy) -> Classified:
        method = (environ.get("REQUEST_METHOD") or "GET").upper()
        return _ogcapi(rest or "/", method, environ.get("QUERY_STRING", "") or "", environ, policy)

    def suspect_filter(self, c: Classified) -> str | None:
        return next((text for text in c.filters if _SUSPECT_CQL.search(text)), None)

    def refusal_body(self, refusal: Refusal, surface: str) -> tuple[bytes, str]:
        body = {"code": refusal.code, "type": refusal.code, "description": refusal.message_en}
        return json.dumps(body).encode(), "application/json"


def _ogcapi(rest: str, method: str, query: str, environ: dict[str, Any], policy: Policy) -> Classified:
    rest = re.sub(r"/{2,}", "/", rest)
    rest = rest[:-1] if len(rest) > 1 and rest.endswith("/") else rest
    params = parse_qsl(query, keep_blank_values=True)
    out = Classified("ogcapi")
    if method not in SAFE_METHODS | {"POST", "PUT", "DELETE"}:
        return out
    if _OGCAPI_SERVICE.match(rest) and method in SAFE_METHODS:
        out.accesses.append(Access("read", Target("service", "ogcapi")))
        return out
    if rest == "/jobs" or rest.startswith("/jobs/"):
        out.accesses.append(Access("read" if method in SAFE_METHODS else "write", Target("service", "jobs")))
        return out
    if m := _OGCAPI_PROCESS.match(rest):
        if m.group("exec") and method == "POST":
            out.accesses.append(Access("execute", Target("process", m.group("p"))))
        elif not m.group("exec") and method in SAFE_METHODS:
            out.accesses.append(Access("read", Target("process", m.group("p"))))
        return out
    m = _OGCAPI_COLLECTION.match(rest)
    if not m:
        return out
    name, sub = m.group("c"), m.group("rest")
    if name in policy.coverage_access:
        if method in SAFE_METHODS:
            out.accesses.append(Access("read", Target("coverage", name)))
        return out
    target = Target("layer", name)
    if sub in ("", "/schema", "/queryables") or sub.startswith("/tiles"):
        if method in SAFE_METHODS:
            out.accesses.append(Access("read", target))
        return out
    if sub == "/items":
        content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if method == "POST" and content_type == "application/geo+json":
            out.accesses.append(Access("write", target))
        elif method in SAFE_METHODS or method == "POST":
            out.accesses.append(Access("read", target))
            out.filters += [v for k, v in params if k.lower() == "filter"]
            if _wants_csv(params, environ):
                out.accesses.append(Access("export", target))
        return out
    if item := re.fullmatch(r"/items/([^/]+)", sub):
        out.item = item.group(1)
        out.accesses.append(Access("read" if method in SAFE_METHODS else "write", target))
        if method in SAFE_METHODS and _wants_csv(params, environ):
            out.accesses.append(Access("export", target))
    return out


def _wants_csv(params: list[tuple[str, str]], environ: dict[str, Any]) -> bool:
    f = [v.lower() for k, v in params if k == "f"]
    if f:
        return any("csv" in v for v in f)
    return "csv" in (environ.get("HTTP_ACCEPT") or "").lower()


__all__ = ["OgcApiMount"]
