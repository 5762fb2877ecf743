"""Row scope for business modules: the policy's answer for one request, as SQL for a module's own queries.

The OGC services get the caller's data scope from the gate (access/policy/gate.py). Business modules (the console API,
emergency, and every later module) run their own SQL, so they ask a :class:`LayerAccess` instead::

    access = LayerAccess.for_request()                     # in a view; pass it down to the service
    access.require("incidents")                            # whole layer denied → 401 (anonymous) / 403, audited
    where, params = access.where("incidents", alias="i")   # "(i."district_code" = ANY(...))" + bind parameters
    rows = conn.execute(text(f"SELECT ... FROM incidents i WHERE ... AND {where}"), {**params, ...})

The predicate is :meth:`core.scope.ScopeLink.bound_sql`, the same template the OGC providers and MapServer
use, so a business endpoint and WFS can never disagree about a row. Rules of thumb, the same as the gate's:

* a layer the role may not read at all: :meth:`require` raises (the endpoint answers 401/403);
* a row outside the scope does not exist for the caller: 404 by id, absent from lists, counts and exports;
* a write must keep the row inside the caller's write scope, before and after (:meth:`allows_values`).

Service functions take the ``access`` argument explicitly (no default), so a forgotten scope is a TypeError,
not a leak. Code that legitimately works city-wide (the CLI, the demo build, tests of the service itself) passes
:meth:`LayerAccess.unrestricted`. Outside a request without a gate, :meth:`for_request` denies everything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.errors import Forbidden, Unauthenticated
from access.policy.rules import (
    ACTIONS,
    KIND_ACTIONS,
    Authz,
    Target,
    current_authz,
    load_policy,
    refusal_messages,
)
from core.scope import CITY, NOTHING, Scope, ScopeLink, scope_links

_ACTIONS_ZH = {"read": "查看", "write": "修改", "export": "导出"}
_NAME = re.compile(r"[^a-z0-9_]")


_memo: list[tuple[Any, Mapping[str, ScopeLink]]] = []


def _links() -> Mapping[str, ScopeLink]:
    """The scope links of the current registry, derived once per registry (not for every query)."""
    from layers.registry import default_registry

    registry = default_registry()
    if not _memo or _memo[0][0] is not registry:
        _memo[:] = [(registry, scope_links(registry))]
    return _memo[0][1]


class LayerAccess:
    """What one caller may do with each layer's rows (``authz`` None and not unrestricted: nothing at all)."""

    def __init__(self, authz: Authz | None, *, unrestricted: bool = False) -> None:
        self.authz = authz
        self._unrestricted = unrestricted

    @classmethod
    def for_request(cls) -> LayerAccess:
        """The current request's access (from the gate); deny-all when no gate bound one."""
        return cls(current_authz())

    @classmethod
    def unrestricted(cls) -> LayerAccess:
        """City-wide access to every layer: for the CLI, the demo build and tests of services — never for views."""
        return cls(None, unrestricted=True)

    @property
    def authenticated(self) -> bool:
        return self._unrestricted or (self.authz is not None and self.authz.identity.authenticated)

    # -- decisions ----------------------------------------------------------------------------------------------
    def scope(self, layer_id: str, action: str = "read") -> Scope:
        """The rows of ``layer_id`` the caller may ``action`` (NOTHING when the layer is denied)."""
        if self._unrestricted:
            return CITY
        if self.authz is None:
            return NOTHING
        return self.authz.scope(layer_id, action)

    def module_scope(self, module: str, action: str) -> Scope:
        """The data scope of a module rule (e.g. who may write through ``emergency``, in which districts)."""
        if self._unrestricted:
            return CITY
        if self.authz is None:
            return NOTHING
        decision = self.authz.decide(action, Target("module", module))
        return decision.scope if decision.allowed else NOTHING

    def can(self, layer_id: str, action: str = "read") -> bool:
        if self._unrestricted:
            return True
        return self.authz is not None and self.authz.can(action, "layer", layer_id)

    def can_module(self, module: str, action: str = "read") -> bool:
        """May the caller ``action`` through ``module`` at all (e.g. show the emergency module's write buttons)?"""
        if self._unrestricted:
            return True
        return self.authz is not None and self.authz.can(action, "module", module)

    def permissions(self) -> dict[str, dict[str, list[str]]]:
        """What a page's JavaScript may offer: ``{"modules": {name: [actions]}, "layers": {id: [actions]}}``.

        Every module and layer the policy knows is listed, each with only the actions allowed (possibly none),
        so the page can show or hide its buttons; the server still checks every request.
        """
        if self.authz is None and not self._unrestricted:
            return {"modules": {}, "layers": {}}
        policy = self.authz.policy if self.authz is not None else load_policy()
        out: dict[str, dict[str, list[str]]] = {}
        for key, kind, check in (("modules", "module", self.can_module), ("layers", "layer", self.can)):
            actions = [a for a in ACTIONS if a in KIND_ACTIONS[kind]]
            out[key] = {name: [a for a in actions if check(name, a)] for name in sorted(policy.names(kind))}
        return out

    def require(self, layer_id: str, action: str = "read") -> Scope:
        """The scope of ``layer_id`` for ``action``; raises 401 (anonymous) / 403 when the layer is denied."""
        if self.can(layer_id, action):
            return self.scope(layer_id, action)
        decision = None if self.authz is None else self.authz.decide(action, Target("layer", layer_id))
        reason = "no policy rule allows it" if decision is None else decision.reason
        if self.authz is not None:
            self.authz.audit("access_denied", target=f"layer:{layer_id}", action=action, reason=reason,
                             status=403 if self.authenticated else 401)
        details = {"layer": layer_id, "action": action}
        if not self.authenticated:
            raise Unauthenticated(f"sign in to {action} layer {layer_id}", "请先登录", details=details,
                                  code="not_authorized")  # the gate's code for the same refusal
        if decision is not None and (decision.token_scope or self.authz.identity.token_scopes is not None
                                     and decision.rules):
            en, zh = refusal_messages(self.authz.identity, action, Target("layer", layer_id), decision)
            raise Forbidden(en, zh, details={**details, "token_scope": decision.token_scope})
        act = _ACTIONS_ZH.get(action, action)
        raise Forbidden(f"your role may not {action} layer {layer_id}", f"无权{act}图层 {layer_id}", details=details)

    def admits(self, layer_id: str, *, district_code: str | None = None, enterprise_uscc: str | None = None,
               action: str = "read", scope: Scope | None = None) -> bool:
        """Is a row of ``layer_id`` in this district / linked to this enterprise inside the scope? No SQL.

        For what cannot query per row: live events, in-memory caches. ``enterprise_uscc`` is the enterprise the row
        is linked to, directly or through a reference (a sensor: its hazard source's enterprise). Unknown layers
        and denied actions admit nothing.
        """
        scope = self.scope(layer_id, action) if scope is None else scope
        if scope.all:
            return True
        if scope.empty:
            return False
        link = _links().get(layer_id)
        if link is None:
            return False
        if link.district_column and district_code is not None and district_code in scope.districts:
            return True
        return link.has_enterprise and enterprise_uscc is not None and enterprise_uscc in scope.enterprises

    def refuse(self, target: str, action: str, *, message_en: str, message_zh: str, reason: str,
               details: Mapping[str, Any] | None = None) -> Forbidden | Unauthenticated:
        """The error for a refused write inside an allowed module (a row outside the write scope), audited.

        Returned, not raised, so the caller's ``raise`` shows in its own code.
        """
        status = 403 if self.authenticated else 401
        if self.authz is not None:
            self.authz.audit("access_denied", target=target, action=action, reason=reason, status=status)
        if status == 401:
            return Unauthenticated(f"sign in to {action} {target}", "请先登录", details=dict(details or {}))
        return Forbidden(message_en, message_zh, details=dict(details or {}))

    # -- SQL ----------------------------------------------------------------------------------------------------
    def where(self, layer_id: str, *, alias: str = "t", action: str = "read",
              scope: Scope | None = None) -> tuple[str, dict[str, Any]]:
        """``(predicate, params)`` limiting rows of ``layer_id`` (aliased ``alias``) to the caller's scope.

        City scope is ``TRUE`` and no scope is ``FALSE`` (no parameters); otherwise the registry-derived
        predicate with bind parameters named after the layer and alias, so several layers can share a query.
        """
        scope = self.scope(layer_id, action) if scope is None else scope
        if scope.all:
            return "TRUE", {}
        if scope.empty:
            return "FALSE", {}
        prefix = _NAME.sub("_", f"rs_{alias}_{layer_id}_{action}")
        link = _links()[layer_id]
        return link.bind(scope, f"{alias}." if alias else "", prefix)

    def contains(self, conn: Connection, layer_id: str, feature_id: Any, *, action: str = "read",
                 id_field: str | None = None) -> bool:
        """Does the feature exist and lie inside the caller's scope? (answer 404 when not).

        ``id_field`` defaults to the layer's own identifier field from the registry.
        """
        from layers.registry import default_registry

        layer = default_registry().get(layer_id)
        where, params = self.where(layer_id, alias="t", action=action)
        sql = f'SELECT EXISTS (SELECT 1 FROM "{layer.table}" t WHERE t."{id_field or layer.id_field}" = :fid AND {where})'
        return bool(conn.execute(text(sql), {**params, "fid": feature_id}).scalar())

    def note_hidden(self, conn: Connection, layer_id: str, feature_id: Any, *, action: str = "read",
                    id_field: str | None = None, target: str | None = None, table: str | None = None) -> None:
        """Call where a by-id lookup in the caller's scope found nothing: if the row exists outside the scope,
        the probe is audited as denied and the request marked so (the caller still gets the 404 — existence is
        not leaked). ``table``/``id_field``/``target`` address a non-layer row (a dispatch order) instead."""
        if self._unrestricted or self.authz is None:
            return
        if table is None:
            from layers.registry import default_registry

            layer = default_registry().get(layer_id)
            table, id_field = layer.table, id_field or layer.id_field
        sql = f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE "{id_field or "id"}" = :fid)'
        if conn.execute(text(sql), {"fid": feature_id}).scalar():
            self.authz.note_out_of_scope(target or f"layer:{layer_id}", feature_id, action)

    def allows_values(self, conn: Connection, layer_id: str, values: Mapping[str, Any], *,
                      scope: Scope) -> bool:
        """Would a row of ``layer_id`` with these column values lie inside ``scope``? (checks writes)."""
        if scope.all:
            return True
        if scope.empty:
            return False
        sql, params = _links()[layer_id].row_check_sql(values, scope, "rw")
        return bool(conn.execute(text(sql), params).scalar())


__all__ = ["LayerAccess"]
