"""The policy gate: one WSGI middleware in front of Flask and every OGC mount, asking the policy about each request.

Order of work for a request: who is calling (the authentication middleware, outside this one, put an Identity in
the environ) → what is asked (:mod:`app.auth.classify`) → may they (:class:`~app.auth.policy.Policy`) → on which
rows (the scope, handed to each service in the form it understands: a bound Authz for pygeoapi and MVT, runtime
substitution values for MapServer, an ``mapproxy.authorize`` hook with ``limited_to`` for MapProxy) → the answer,
with capabilities documents cut down to what the caller may read.

The 401/403/404 rule, the same on every surface:
  * anonymous and not allowed → 401 (OGC endpoints add ``WWW-Authenticate: Basic`` so desktop GIS prompts);
  * signed in, but no rule lets the role do the action to the layer/module/page → 403;
  * a path, layer, module or process the policy does not know → 404 from the gate itself, never passed on (layer
    names are published in /openapi anyway; what stays secret is rows, not names);
  * allowed, but the object is outside the caller's data scope → it does not exist for them: 404 when addressed
    by id (OGC API item, WFS GetFeatureById, REST /<id>), simply absent from lists, maps, feature info and tiles.
Denials, rejected tampering, by-id probes of rows outside the caller's scope (still answered as missing) and
every export are written to the audit log.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import re
from collections.abc import Callable, Iterable
from contextlib import suppress
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from app.auth import browser
from app.auth.classify import Access, BadRequest, Classified, classify, mount_of
from app.auth.identity import Identity, identity_from_environ
from app.auth.ogc_filter import DistrictShapes, MapProxyAuthorizer, filter_capabilities
from app.auth.policy import (
    AUTHZ_ENVIRON_KEY,
    CURRENT_AUTHZ,
    Authz,
    Decision,
    Policy,
    Target,
    refusal_messages,
)
from app.errors import PROBLEM_TYPE_BASE, preferred_language

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
WWW_AUTHENTICATE = 'Basic realm="OneMap", charset="UTF-8"'
MAX_CAPABILITIES = 16 << 20
# Filter values on protected layers: parameters are bound or escaped downstream, but a quote, a statement
# separator or a comment opener in a filter value is far more often an attack than a name; refuse and record it.
_SUSPECT_LITERAL = re.compile(r"['\";\\\x00]|--|/\*")
_SUSPECT_CQL = re.compile(r";|--|/\*|\x00")
_LITERAL = re.compile(r"<(?:[\w.-]+:)?(Literal|ValueReference|PropertyName)\b[^>]*>(.*?)</", re.S)
_ACTIONS_ZH = {"read": "查看", "write": "修改", "export": "导出", "admin": "管理", "execute": "运行", "audit": "审计"}

Recorder = Callable[..., None]


def default_recorder(event: str, *, identity: Identity, environ: dict[str, Any], outcome: str,
                     settings: dict[str, Any] | None = None, **details: Any) -> None:
    """Write one audit record through app.auth.audit (the authentication side's tamper-evident log)."""
    from app.auth import audit

    if audit.current_environ() is not environ and settings is not None:
        # the authentication middleware did not bind *this* request (tests, a bare gate): use our own database
        from app.db import get_engine

        with audit.request_context(environ, get_engine(settings)):
            default_recorder(event, identity=identity, environ=environ, outcome=outcome, **details)
        return
    target = details.pop("target", None) or ""
    kind, _, name = target.partition(":")
    audit.record(action=f"access.{event}", outcome=_OUTCOMES[outcome], identity=identity, environ=environ,
           object_type=kind or None, object_id=details.pop("object_id", None) or name or None, details=details)


_OUTCOMES = {"allowed": "success", "denied": "denied", "rejected": "denied"}


def default_grants(identity: Identity, settings: dict[str, Any] | None = None) -> list[Any]:
    """The caller's temporary grants in force: pre-loaded by the authentication middleware, else queried."""
    if not identity.authenticated:
        return []
    if "grants" in identity.attributes:
        return list(identity.attributes["grants"])
    from app.auth.grants import active_grants

    if settings is None:
        return list(active_grants(identity.user_id))
    from app.db import get_engine

    with get_engine(settings).connect() as conn:
        return list(active_grants(identity.user_id, conn))


def _lang(environ: dict[str, Any]) -> str:
    return "en" if preferred_language(environ.get("HTTP_ACCEPT_LANGUAGE")) == "en" else "zh"


def _surface(environ: dict[str, Any], service: str | None) -> str:
    mount, _ = mount_of(environ.get("PATH_INFO", "") or "/")
    if mount == "/ows":
        return (service or "wms").lower()
    if mount is not None:
        return mount.strip("/")
    return "rest" if (environ.get("PATH_INFO") or "").startswith("/api/") else "page"


def surface_of(environ: dict[str, Any]) -> str:
    """The surface a request is for by its path alone (page, rest, ogcapi, wms, tiles), for refusals that come
    before the request is classified."""
    return _surface(environ, None)


def error_response(start_response: StartResponse, environ: dict[str, Any], *, status: int, code: str,
                   message_en: str, message_zh: str, surface: str, locator: str | None = None,
                   service: str | None = None, version: str | None = None) -> list[bytes]:
    """A refusal in the dialect of the surface: OGC exception reports on OGC endpoints, problem+json elsewhere —
    except to a person in a browser asking for a page: the sign-in page (401) or an HTML page (see app.auth.browser)."""
    from mapserver.owscheck import RequestProblem, exception_body

    if surface == "page" and browser.wants_html(environ):
        if status == 401 and browser.is_navigation(environ):
            return browser.login_redirect(start_response, environ)
        return browser.error_page(start_response, environ, status, message_en if _lang(environ) == "en" else message_zh)
    if surface in ("wms", "wfs", "wcs"):
        body, ctype = exception_body(RequestProblem(status, code, locator, message_en, service or surface.upper(),
                                                    version))
    elif surface == "tiles":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ows:ExceptionReport xmlns:ows="http://www.opengis.net/'
                f'ows/1.1" version="1.0.0" xml:lang="en">\n  <ows:Exception exceptionCode="{code}">\n'
                f"    <ows:ExceptionText>{html.escape(message_en)}</ows:ExceptionText>\n  </ows:Exception>\n"
                f"</ows:ExceptionReport>\n").encode()
        ctype = "text/xml; charset=UTF-8"
    elif surface == "ogcapi":
        body = json.dumps({"code": code, "type": code, "description": message_en}).encode()
        ctype = "application/json"
    else:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", code).lower()
        body = json.dumps({"type": PROBLEM_TYPE_BASE + snake, "title": HTTPStatus(status).phrase, "status": status,
                           "detail": message_en if _lang(environ) == "en" else message_zh, "code": snake},
                          ensure_ascii=False).encode()
        ctype = "application/problem+json"
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]
    if status == 401 and surface not in ("rest", "page"):
        headers.append(("WWW-Authenticate", WWW_AUTHENTICATE))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


def require_authorize(app: WSGIApp) -> WSGIApp:
    """Wrap MapProxy so that it serves nothing unless the policy gate installed its ``mapproxy.authorize`` hook.

    MapProxy authorises only when the hook is present; without this wrapper a MapProxy reached without the gate
    (a mis-mounted app, a test, a second server) would serve every layer to everybody.
    """
    def closed(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if callable(environ.get("mapproxy.authorize")):
            return app(environ, start_response)
        log.error("tile request without the policy gate's authorisation hook refused: %s", environ.get("PATH_INFO"))
        return error_response(start_response, environ, status=403, code="Forbidden", surface="tiles",
                              message_en="the tile service serves nothing without its authorisation policy",
                              message_zh="瓦片服务未加载授权策略，拒绝访问")

    return closed


class PolicyGate:
    """WSGI middleware: every request is classified and decided by ``policy`` before it reaches ``app``."""

    def __init__(self, app: WSGIApp, policy: Policy, *, settings: dict[str, Any] | None = None,
                 grants: Callable[[Identity], Iterable[Any]] | None = None, recorder: Recorder | None = None,
                 district_shapes: Callable[[frozenset[str]], Any] | None = None) -> None:
        self.app, self.policy = app, policy
        self.grants = grants or functools.partial(default_grants, settings=settings)
        self.settings = settings
        self.recorder = recorder or functools.partial(default_recorder, settings=settings)
        self.district_shapes = district_shapes or DistrictShapes(settings)

    # -- audit ------------------------------------------------------------------------------------------------------
    def audit(self, environ: dict[str, Any], identity: Identity, event: str, outcome: str, **details: Any) -> None:
        details.setdefault("method", environ.get("REQUEST_METHOD"))
        details.setdefault("path", (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or ""))
        try:
            self.recorder(event, identity=identity, environ=environ, outcome=outcome, **details)
        except Exception:  # noqa: BLE001 - a broken audit sink must be loud, and must not open the gate
            log.exception("audit record failed for %s", event)
            raise

    def _load_grants(self, identity: Identity) -> list[Any]:
        try:
            return list(self.grants(identity))
        except Exception:  # noqa: BLE001 - without grants the caller has fewer rights, never more
            log.exception("cannot load temporary grants of user %s; continuing without them", identity.user_id)
            return []

    # -- the request ------------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        identity = identity_from_environ(environ)
        authz = Authz(self.policy, identity, self._load_grants(identity),
                      on_audit=lambda event, **d: self.audit(environ, identity, event, "denied", **d))
        environ[AUTHZ_ENVIRON_KEY] = authz
        try:
            c = classify(environ, self.policy)
        except BadRequest as exc:
            if exc.audit:
                self.audit(environ, identity, exc.audit, "rejected", reason=exc.message, locator=exc.locator)
            return error_response(start_response, environ, status=exc.status, code=exc.code, locator=exc.locator,
                                  message_en=exc.message, message_zh=f"请求无效：{exc.message}",
                                  surface=_surface(environ, exc.service), service=exc.service, version=exc.version)
        unknown = [a for a in c.accesses if a.target.name not in self.policy.names(a.target.kind)]
        if not c.accesses or unknown:
            # Nothing the policy knows of: answered here, never passed on (a route nobody wrote an entry for stays
            # closed, and is recorded so that the omission shows up in the audit log).
            what = str(unknown[0].target) if unknown else None
            self.audit(environ, identity, "unknown_resource", "denied", target=what, status=404,
                       reason="no policy entry for this request")
            return error_response(start_response, environ, status=404, code="NotFound", surface=c.surface,
                                  locator=unknown[0].target.name if unknown else None, service=c.service,
                                  version=c.version, message_en=f"no such resource{': ' + what if what else ''}",
                                  message_zh="请求的资源不存在")
        for access in c.accesses:
            decision = authz.decide(access.action, access.target)
            if not decision.allowed:
                return self._deny(environ, start_response, c, authz, access, decision)
        protected = [n for n in c.layers() if self.policy.layer_access.get(n) != "public"]
        if protected and (suspect := self._suspect_filter(c)):
            self.audit(environ, identity, "suspicious_filter", "rejected", target=f"layer:{protected[0]}",
                       value=suspect[:200])
            return error_response(start_response, environ, status=400, code="InvalidParameterValue",
                                  locator="filter", surface=c.surface, service=c.service, version=c.version,
                                  message_en="filter values may not contain quotes, ';', '--' or '/*' on this layer",
                                  message_zh="过滤条件含有不允许的字符（引号、分号或注释符）")
        if c.export:
            for access in c.accesses:
                if access.action == "export":
                    self.audit(environ, identity, "export", "allowed", target=str(access.target),
                               scope=authz.decide("export", access.target).scope.describe())
        refusal = self._prepare(environ, c, authz)
        if refusal is not None:
            return refusal(start_response)
        self._note_hidden_items(c, authz)
        return self._call(environ, start_response, c, authz, bool(protected and c.filters))

    def _note_hidden_items(self, c: Classified, authz: Authz) -> None:
        """By-id requests (OGC API item, WFS GetFeatureById / RESOURCEID) for rows that exist outside the caller's
        scope: the service answers as for a missing row (existence is not leaked), and the probe is audited here
        as denied — the service behind cannot tell "outside your scope" from "missing"."""
        if not c.item or self.settings is None:
            return
        wanted: dict[str, list[str]] = {}
        if c.surface == "ogcapi":
            if c.layers():
                wanted[c.layers()[0]] = [c.item]
        else:
            for piece in c.item.split(","):
                name, dot, fid = piece.strip().rpartition(".")
                if dot and fid:
                    wanted.setdefault(name.rsplit(":", 1)[-1].lower(), []).append(fid)
        for name, ids in wanted.items():
            if self.policy.layer_access.get(name) in (None, "public"):
                continue
            action = next((a.action for a in c.accesses if a.target == Target("layer", name)), "read")
            if authz.scope(name, action).all:
                continue
            from sqlalchemy import text

            from app.auth.rowscope import LayerAccess
            from app.db import get_engine
            from layers.registry import default_registry

            layer = default_registry().get(name)
            where, params = LayerAccess(authz).where(name, alias="t", action=action)
            # compared as text: the ids come from the URL and may not even be of the column's type
            sql = (f'SELECT t."{layer.id_field}"::text FROM "{layer.table}" t '
                   f'WHERE t."{layer.id_field}"::text = ANY(:ids) AND NOT coalesce(({where}), false)')
            with get_engine(self.settings).connect() as conn:
                hidden = conn.execute(text(sql), {**params, "ids": ids[:100]}).scalars().all()
            for fid in hidden:
                authz.note_out_of_scope(f"layer:{name}", fid, action)

    def _suspect_filter(self, c: Classified) -> str | None:
        for text in c.filters:
            if c.surface == "ogcapi":
                if _SUSPECT_CQL.search(text):
                    return text
                continue
            values = [text] if c.xml_body else [html.unescape(m.group(2)) for m in _LITERAL.finditer(text)]
            for value in values:
                if _SUSPECT_LITERAL.search(value):
                    return value
        return None

    def _deny(self, environ: dict[str, Any], start_response: StartResponse, c: Classified, authz: Authz,
              access: Access, decision: Decision) -> list[bytes]:
        identity = authz.identity
        status = 403 if identity.authenticated else 401
        what = f"{access.action} {access.target}"
        self.audit(environ, identity, "access_denied", "denied", target=str(access.target), action=access.action,
                   reason=decision.reason, status=status)
        if status == 401:
            en, zh, code = f"sign in to {what}", "请先登录", "NotAuthorized"
        else:
            en, zh = refusal_messages(identity, access.action, access.target, decision)
            code = "Forbidden"
        return error_response(start_response, environ, status=status, code=code, message_en=en, message_zh=zh,
                              surface=c.surface, locator=access.target.name, service=c.service, version=c.version)

    def _prepare(self, environ: dict[str, Any], c: Classified, authz: Authz) -> Callable[..., list[bytes]] | None:
        """Hand the scope to the service behind; a refusal (callable) if the request cannot be served safely."""
        if c.surface in ("wms", "wfs", "wcs"):
            from mapserver.mapfile import scope_params

            extra: dict[str, str] = {}
            for name in c.layers():
                if self.policy.layer_access.get(name) != "public":
                    extra.update(scope_params(name, authz.scope(name)))
            if c.describe_all:
                visible = authz.visible_layers()
                if visible != frozenset(self.policy.layer_access):
                    if c.xml_body:
                        return lambda sr: error_response(
                            sr, environ, status=400, code="MissingParameterValue", locator="TypeName",
                            surface=c.surface, service=c.service, version=c.version,
                            message_en="name the feature types to describe", message_zh="请指定要描述的要素类型")
                    key = "TYPENAME" if (c.version or "2").startswith("1") else "TYPENAMES"
                    extra[key] = ",".join(sorted(visible))
            if extra:
                query = environ.get("QUERY_STRING") or ""
                environ["QUERY_STRING"] = (query + "&" if query else "") + urlencode(extra)
        elif c.surface == "tiles":
            environ["mapproxy.authorize"] = MapProxyAuthorizer(
                authz, self.district_shapes, lambda event, **d: self.audit(environ, authz.identity, event,
                                                                            "denied", **d))
        return None

    def _call(self, environ: dict[str, Any], start_response: StartResponse, c: Classified, authz: Authz,
              filtered: bool) -> Iterable[bytes]:
        anonymous = not authz.identity.authenticated
        noted: list[bool] = []

        def relay(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            code = int(status[:3])
            if code == 401 and c.ogc and anonymous and not any(k.lower() == "www-authenticate" for k, _ in headers):
                headers = [*headers, ("WWW-Authenticate", WWW_AUTHENTICATE)]
            if filtered and 400 <= code < 500 and not noted:
                noted.append(True)  # the service refused a client filter on a protected layer: keep a trace
                self.audit(environ, authz.identity, "rejected_filter", "rejected", status=code,
                           target=f"layer:{c.layers()[0]}")
            return start_response(status, headers, exc_info)

        token = CURRENT_AUTHZ.set(authz)
        try:
            if c.request == "getcapabilities" and c.surface in ("wms", "wfs", "wcs"):
                return self._filtered_capabilities(environ, relay, c, authz)
            return self.app(environ, relay)
        finally:
            CURRENT_AUTHZ.reset(token)

    def _filtered_capabilities(self, environ: dict[str, Any], start_response: StartResponse, c: Classified,
                               authz: Authz) -> Iterable[bytes]:
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers)
            return chunks.append

        result = self.app(environ, capture)
        try:
            size = sum(map(len, chunks))
            for chunk in result:
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_CAPABILITIES:
                    break
        finally:
            with suppress(Exception):
                getattr(result, "close", lambda: None)()
        body = b"".join(chunks)
        status, headers = captured["status"], captured["headers"]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        if environ.get("REQUEST_METHOD") == "HEAD":
            start_response(status, headers)
            return []
        visible = authz.visible_layers() | {n for n in self.policy.coverage_access if authz.can("read", "coverage", n)}
        everything = visible >= set(self.policy.layer_access) | set(self.policy.coverage_access)
        try:
            if size > MAX_CAPABILITIES:
                raise ValueError(f"larger than {MAX_CAPABILITIES} bytes")
            if status.startswith("200"):
                body = filter_capabilities(body, visible, everything=everything)
        except ValueError as exc:  # never pass on a document we could not filter
            log.error("capabilities document refused: %s", exc)
            return error_response(start_response, environ, status=502, code="NoApplicableCode", surface=c.surface,
                                  service=c.service, version=c.version, message_en="the capabilities document could not be filtered",
                                  message_zh="能力文档无法按权限过滤")
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


__all__ = ["PolicyGate", "WWW_AUTHENTICATE", "default_recorder", "error_response", "require_authorize", "surface_of"]
