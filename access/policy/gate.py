"""The policy gate: one WSGI middleware in front of Flask and every OGC mount, asking the policy about each request.

Order of work for a request: who is calling (the authentication middleware, outside this one, put an Identity in
the environ) → what is asked (:mod:`access.policy.classify`) → may they (:class:`~access.policy.rules.Policy`) → on which
rows (the scope, handed to each service in the form it understands: a bound Authz for pygeoapi and MVT, runtime
substitution values for MapServer, an ``mapproxy.authorize`` hook with ``limited_to`` for MapProxy) → the answer,
with capabilities documents cut down to what the caller may read.

Everything about a mounted service — how it reads a request, how it takes the scope, which answers are cut down,
how it says no — comes from the adapter the mount registers (:class:`~access.policy.mounts.Mount`, built by
``mapserver.gate.gate_mounts``); this module decides, and knows no OGC software.

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
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from typing import Any

from access.policy.classify import Access, BadRequest, Classified, classify
from access.policy.mounts import Mount, Refusal, ResponseFilter, mount_of
from access.policy.refusal import WWW_AUTHENTICATE, flask_surface, respond
from access.policy.rules import (
    AUTHZ_ENVIRON_KEY,
    CURRENT_AUTHZ,
    Authz,
    Decision,
    Policy,
    Target,
    refusal_messages,
)
from core.identity import Identity, identity_from_environ

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
MAX_CAPABILITIES = 16 << 20

Recorder = Callable[..., None]


def default_recorder(event: str, *, identity: Identity, environ: dict[str, Any], outcome: str,
                     settings: dict[str, Any] | None = None, **details: Any) -> None:
    """Write one audit record through access.audit (the authentication side's tamper-evident log)."""
    from access import audit

    if audit.current_environ() is not environ and settings is not None:
        # the authentication middleware did not bind *this* request (tests, a bare gate): use our own database
        from core.db import get_engine

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
    from access.policy.grants import active_grants

    if settings is None:
        return list(active_grants(identity.user_id))
    from core.db import get_engine

    with get_engine(settings).connect() as conn:
        return list(active_grants(identity.user_id, conn))


class PolicyGate:
    """WSGI middleware: every request is classified and decided by ``policy`` before it reaches ``app``.

    ``mounts``: the adapters of the services mounted in ``app`` (app/mounts.py). A path under no mount is a Flask
    route.
    """

    def __init__(self, app: WSGIApp, policy: Policy, *, settings: dict[str, Any] | None = None,
                 mounts: Sequence[Mount] | None = None, grants: Callable[[Identity], Iterable[Any]] | None = None,
                 recorder: Recorder | None = None) -> None:
        self.app, self.policy = app, policy
        self.gate_mounts: tuple[Mount, ...] = tuple(mounts or ())
        self.grants = grants or functools.partial(default_grants, settings=settings)
        self.settings = settings
        self.recorder = recorder or functools.partial(default_recorder, settings=settings)

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
            c = classify(environ, self.policy, self.gate_mounts)
        except BadRequest as exc:
            if exc.audit:
                self.audit(environ, identity, exc.audit, "rejected", reason=exc.message, locator=exc.locator)
            return self._refuse(start_response, environ, c=None, refusal=Refusal(
                exc.status, exc.code, exc.message, f"请求无效：{exc.message}", exc.locator, exc.service, exc.version))
        unknown = [a for a in c.accesses if a.target.name not in self.policy.names(a.target.kind)]
        if not c.accesses or unknown:
            # Nothing the policy knows of: answered here, never passed on (a route nobody wrote an entry for stays
            # closed, and is recorded so that the omission shows up in the audit log).
            what = str(unknown[0].target) if unknown else None
            self.audit(environ, identity, "unknown_resource", "denied", target=what, status=404,
                       reason="no policy entry for this request")
            return self._refuse(start_response, environ, c, Refusal(
                404, "NotFound", f"no such resource{': ' + what if what else ''}", "请求的资源不存在",
                unknown[0].target.name if unknown else None, c.service, c.version))
        for access in c.accesses:
            decision = authz.decide(access.action, access.target)
            if not decision.allowed:
                return self._deny(environ, start_response, c, authz, access, decision)
        protected = [n for n in c.layers() if self.policy.layer_access.get(n) != "public"]
        if protected and c.mount is not None and (suspect := c.mount.suspect_filter(c)):
            self.audit(environ, identity, "suspicious_filter", "rejected", target=f"layer:{protected[0]}",
                       value=suspect[:200])
            return self._refuse(start_response, environ, c, Refusal(
                400, "InvalidParameterValue", "filter values may not contain quotes, ';', '--' or '/*' on this layer",
                "过滤条件含有不允许的字符（引号、分号或注释符）", "filter", c.service, c.version))
        if c.export:
            for access in c.accesses:
                if access.action == "export":
                    self.audit(environ, identity, "export", "allowed", target=str(access.target),
                               scope=authz.decide("export", access.target).scope.describe())
        if c.mount is not None:
            # the scope, handed to the service behind in the form it understands
            refusal = c.mount.prepare(environ, c, authz,
                                      lambda event, **d: self.audit(environ, identity, event, "denied", **d))
            if refusal is not None:
                return self._refuse(start_response, environ, c, refusal)
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

            from access.policy.rowscope import LayerAccess
            from core.db import get_engine
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

    def _refuse(self, start_response: StartResponse, environ: dict[str, Any], c: Classified | None,
                refusal: Refusal) -> list[bytes]:
        """``refusal`` in the dialect of the surface (``c`` None: the request could not be classified)."""
        if c is None:
            path = environ.get("PATH_INFO", "") or "/"
            mount = mount_of(path, self.gate_mounts)[0]
            surface = mount.surface(refusal.service) if mount is not None else flask_surface(path)
        else:
            mount, surface = c.mount, c.surface
        return respond(start_response, environ, refusal, mount=mount, surface=surface)

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
        return self._refuse(start_response, environ, c,
                            Refusal(status, code, en, zh, access.target.name, c.service, c.version))

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
            if c.mount is not None and (cut := c.mount.response_filter(c)) is not None:
                return self._filtered(environ, relay, c, authz, cut)
            return self.app(environ, relay)
        finally:
            CURRENT_AUTHZ.reset(token)

    def _filtered(self, environ: dict[str, Any], start_response: StartResponse, c: Classified, authz: Authz,
                  cut: ResponseFilter) -> Iterable[bytes]:
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
                body = cut(body, frozenset(visible), everything)
        except ValueError as exc:  # never pass on a document we could not filter
            log.error("capabilities document refused: %s", exc)
            return self._refuse(start_response, environ, c, Refusal(
                502, "NoApplicableCode", "the capabilities document could not be filtered", "能力文档无法按权限过滤",
                service=c.service, version=c.version))
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


__all__ = ["PolicyGate", "WWW_AUTHENTICATE", "default_recorder"]
