"""The one authorisation policy: role × action × resource × data scope, loaded from ``policy.yaml``.

:func:`load_policy` validates the file in stages like the other registries (YAML syntax → schema → references to
real roles, layers, modules, processes → scope applicability) and reports every problem at once, each naming the
file and the field. :meth:`Policy.decide` answers one question — may this identity do this action to this
resource, and on which rows — and denies whatever no rule allows. :class:`Authz` is that answer bound to one
request; the gate puts it in the environ (and in a context variable for the pygeoapi providers, which never see
the environ), and business modules ask it for the scope of their own queries.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from access.models import TOKEN_SCOPES
from access.policy.tokenscope import refusal_messages, token_scopes_for
from core.identity import ROLES, Identity
from core.scope import NOTHING, Scope, ScopeLink, scope_links
from core.yamlload import YamlProblem, read_yaml

log = logging.getLogger(__name__)

POLICY_PATH = Path(__file__).with_name("policy.yaml")
AUTHZ_ENVIRON_KEY = "onemap.authz"
ACTIONS = ("read", "write", "export", "admin", "execute", "audit")
SERVICES = ("ogcapi", "wms", "wfs", "wcs", "tiles", "jobs")
KIND_ACTIONS: dict[str, frozenset[str]] = {
    "layer": frozenset({"read", "write", "export"}),
    "coverage": frozenset({"read", "export"}),
    "process": frozenset({"read", "execute"}),
    "module": frozenset(ACTIONS),
    "page": frozenset({"read", "write"}),
    "service": frozenset({"read", "write"}),
}
TARGET_KEYS = {"layers": "layer", "coverages": "coverage", "processes": "process", "modules": "module",
               "pages": "page", "services": "service"}
_DISTRICT = re.compile(r"^[0-9]{6}$")
_USCC = re.compile(r"^[0-9A-Z]{18}$")

_NAMES = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "minLength": 1}}
_ROUTES = {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^/"}}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "rules"],
    "properties": {
        "version": {"const": 1},
        "pages": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {"exact": _ROUTES, "prefix": _ROUTES}}},
        "modules": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {"prefix": _ROUTES, "action": {"enum": list(ACTIONS)}}}},
        "coverages": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["access"],
            "properties": {"access": {"enum": ["public", "internal", "restricted"]}}}},
        "rules": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "roles", "actions"],
            "minProperties": 4, "maxProperties": 5,  # id, roles, actions, one target, optional scope
            "properties": {
                "id": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
                "roles": _NAMES,
                "actions": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(ACTIONS)}},
                "scope": {"enum": ["city", "district", "enterprise"]},
                "layers": {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
                           "properties": {"access": {"type": "array", "minItems": 1, "uniqueItems": True,
                                                     "items": {"enum": ["public", "internal", "restricted"]}},
                                          "ids": _NAMES}},
                **{key: _NAMES for key in ("coverages", "processes", "modules", "pages", "services")},
            },
        }},
    },
}


# A module's fragment (Manifest.policy): its own route families and rules, no version of its own.
FRAGMENT_SCHEMA: dict[str, Any] = {**SCHEMA, "required": ["rules"],
                                   "properties": {k: v for k, v in SCHEMA["properties"].items() if k != "version"}}


class PolicyError(Exception):
    """The policy file is invalid; ``problems`` holds one line per problem, each naming file and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid authorisation policy:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Target:
    """What a request touches: a layer, coverage, process, module, page or OGC service, by name."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Route:
    kind: str                    # page | module
    name: str
    exact: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    action: str | None = None    # a fixed action for every method (admin, audit)


@dataclass(frozen=True)
class Rule:
    id: str
    roles: frozenset[str]
    actions: frozenset[str]
    kind: str
    names: frozenset[str] | None = None       # None: every name of the kind
    access: frozenset[str] | None = None      # layers by access level
    scope: str = "city"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    scope: Scope
    rules: tuple[str, ...] = ()
    reason: str = ""
    # Set when the role would be allowed but the API token in use lacks this scope: the refusal names the
    # scope to put on a new token instead of blaming the role.
    token_scope: str | None = None


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    routes: tuple[Route, ...]
    layer_access: Mapping[str, str]
    coverage_access: Mapping[str, str]
    links: Mapping[str, ScopeLink]
    processes: frozenset[str]
    source: Path | None = field(default=None, compare=False)

    # -- classification of Flask paths ----------------------------------------------------------------------------
    def route(self, path: str) -> Route | None:
        """The page or module family that owns ``path`` (longest prefix wins), or None (denied)."""
        best: tuple[int, Route] | None = None
        for route in self.routes:
            if path in route.exact:
                return route
            for p in route.prefix:
                if (path == p or path.startswith(p.rstrip("/") + "/")) and (best is None or len(p) > best[0]):
                    best = (len(p), route)
        return best[1] if best else None

    def names(self, kind: str) -> frozenset[str]:
        if kind == "layer":
            return frozenset(self.layer_access)
        if kind == "coverage":
            return frozenset(self.coverage_access)
        if kind == "process":
            return self.processes
        if kind == "service":
            return frozenset(SERVICES)
        return frozenset(r.name for r in self.routes if r.kind == kind)

    # -- evaluation -------------------------------------------------------------------------------------------------
    def _matches(self, rule: Rule, target: Target) -> bool:
        if rule.kind != target.kind or target.name not in self.names(target.kind):
            return False
        if rule.access is not None:
            return self.layer_access.get(target.name) in rule.access
        return rule.names is None or target.name in rule.names

    def _scope(self, kind: str, identity: Identity, district: str | None = None) -> Scope:
        """The rows a rule of scope ``kind`` opens for ``identity`` (a grant's district narrows it)."""
        if district is not None:
            return Scope(districts=frozenset({district})) if _DISTRICT.match(district) else NOTHING
        if kind == "city":
            return Scope(all=True)
        if kind == "district":
            extra = identity.attributes.get("district_codes") or ()
            codes = {c for c in (identity.district_code, *extra) if isinstance(c, str) and _DISTRICT.match(c)}
            return Scope(districts=frozenset(codes))
        uscc = identity.enterprise_uscc
        return Scope(enterprises=frozenset({uscc})) if uscc and _USCC.match(uscc) else NOTHING

    def decide(self, identity: Identity, action: str, target: Target, *, grants: Iterable[Any] = (),
               now: dt.datetime | None = None) -> Decision:
        """May ``identity`` do ``action`` to ``target``, and on which rows? Denied unless some rule allows it."""
        decision = self._decide_role(identity, action, target, grants, now)
        if identity.token_scopes is None or not decision.allowed:
            return decision  # a role refusal stays a role refusal, whatever the token holds
        needed = token_scopes_for(action, target)
        if identity.token_scopes & set(needed):
            return decision
        if needed[0] not in TOKEN_SCOPES:
            return Decision(False, NOTHING, decision.rules,
                            reason=f"API tokens cannot {action} {target}: sign in as a person to do it")
        return Decision(False, NOTHING, decision.rules, token_scope=needed[0],
                        reason=f"the API token lacks the scope {needed[0]!r}")

    def _decide_role(self, identity: Identity, action: str, target: Target, grants: Iterable[Any],
                     now: dt.datetime | None) -> Decision:
        """The decision by roles, rules and grants alone (the token's scopes are checked by :meth:`decide`)."""
        scope, matched = NOTHING, []
        for rule in self.rules:
            if action in rule.actions and ("*" in rule.roles or rule.roles & identity.roles) \
                    and self._matches(rule, target):
                scope, matched = scope | self._scope(rule.scope, identity), [*matched, rule.id]
        for grant in active_only(grants, now):
            for rule_id, extra in self._grant_scopes(grant, identity, action, target):
                scope, matched = scope | extra, [*matched, rule_id]
        if not matched:
            return Decision(False, NOTHING, reason=f"no policy rule allows {action} on {target}")
        if target.kind == "layer" and self.layer_access.get(target.name) == "public":
            return Decision(True, Scope(all=True), tuple(matched))  # public rows are never filtered
        if target.kind in ("layer", "module") and scope.empty:
            return Decision(False, NOTHING, tuple(matched), reason="the caller's data scope is empty")
        return Decision(True, scope, tuple(matched))

    def _grant_scopes(self, grant: Any, identity: Identity, action: str, target: Target) -> list[tuple[str, Scope]]:
        """What one temporary grant adds: a role (optionally narrowed to a district) or one permission."""
        gid = f"grant-{getattr(grant, 'id', '?')}"
        district = getattr(grant, "district_code", None) or None
        role = getattr(grant, "role", None)
        out: list[tuple[str, Scope]] = []
        if role:
            for rule in self.rules:
                if action in rule.actions and role in rule.roles and self._matches(rule, target):
                    out.append((f"{gid}:{rule.id}", self._scope(rule.scope, identity, district)))
        permission = getattr(grant, "permission", None)
        if permission and permission.rpartition(":")[2] == action:
            layer, module = getattr(grant, "layer", None), getattr(grant, "module", None)
            if (layer and target == Target("layer", layer)) or (module and target == Target("module", module)):
                out.append((gid, self._scope("city", identity, district)))
        return out

    def visible(self, identity: Identity, kind: str = "layer", *, grants: Iterable[Any] = (),
                now: dt.datetime | None = None) -> frozenset[str]:
        """The names of ``kind`` the caller may read (capabilities and /collections list only these)."""
        grants = list(grants)
        return frozenset(n for n in self.names(kind)
                         if self.decide(identity, "read", Target(kind, n), grants=grants, now=now).allowed)


def active_only(grants: Iterable[Any], now: dt.datetime | None = None) -> list[Any]:
    """Grants in force at ``now``; checked here too so a stale list can never extend a permission."""
    now = now or dt.datetime.now(dt.UTC)
    out = []
    for g in grants:
        starts, expires = getattr(g, "starts_at", None), getattr(g, "expires_at", None)
        revoked = getattr(g, "revoked_at", None) is not None
        if not revoked and expires is not None and (starts is None or starts <= now) and now < expires:
            out.append(g)
    return out


# -- the decision bound to one request ------------------------------------------------------------------------------
class Authz:
    """The caller's permissions for one request: decisions are computed once and memoised."""

    def __init__(self, policy: Policy, identity: Identity, grants: Iterable[Any] = (), *,
                 now: dt.datetime | None = None, on_audit: Callable[..., None] | None = None) -> None:
        self.policy, self.identity, self.grants = policy, identity, list(grants)
        self.now = now or dt.datetime.now(dt.UTC)
        self._on_audit = on_audit
        self._memo: dict[tuple[str, Target], Decision] = {}
        # Set when the request addressed a row that exists outside the caller's scope: it is answered 404 like a
        # missing one, and the audit record of the request says "denied", not "failed".
        self.out_of_scope = False

    def decide(self, action: str, target: Target) -> Decision:
        key = (action, target)
        if key not in self._memo:
            self._memo[key] = self.policy.decide(self.identity, action, target, grants=self.grants, now=self.now)
        return self._memo[key]

    def can(self, action: str, kind: str, name: str) -> bool:
        return self.decide(action, Target(kind, name)).allowed

    def scope(self, layer_id: str, action: str = "read") -> Scope:
        """The rows of ``layer_id`` the caller may ``action`` (NOTHING when denied)."""
        decision = self.decide(action, Target("layer", layer_id))
        return decision.scope if decision.allowed else NOTHING

    def visible_layers(self) -> frozenset[str]:
        return frozenset(n for n in self.policy.names("layer") if self.can("read", "layer", n))

    def audit(self, event: str, **details: Any) -> None:
        if self._on_audit is not None:
            self._on_audit(event, **details)

    def note_out_of_scope(self, target: str, object_id: Any, action: str) -> None:
        """A by-id request hit a row outside the caller's scope: audited as denied (the answer stays 404)."""
        self.out_of_scope = True
        self.audit("out_of_scope", target=target, object_id=str(object_id)[:200], action=action, status=404,
                   reason="the row exists outside the caller's data scope")


# The pygeoapi providers are built by pygeoapi per request and never see the WSGI environ: the gate binds the
# request's Authz here for the duration of the call. Unset means "no gate": providers then return nothing.
CURRENT_AUTHZ: ContextVar[Authz | None] = ContextVar("onemap_authz", default=None)


def current_authz() -> Authz | None:
    """The Authz of the current request (Flask: from the environ; elsewhere: the context variable)."""
    from flask import has_request_context, request

    if has_request_context() and AUTHZ_ENVIRON_KEY in request.environ:
        return request.environ[AUTHZ_ENVIRON_KEY]
    return CURRENT_AUTHZ.get()


# -- loading and validation -----------------------------------------------------------------------------------------
def _where(path: tuple[Any, ...], doc: Any) -> str:
    parts, node = [], doc
    for step in path:
        parts.append(f"[{step}]" if isinstance(step, int) else ("." if parts else "") + str(step))
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(step, int) and isinstance(node, dict) and "id" in node:
            parts.append(f"(id={node['id']})")
    return "".join(parts) or "<top level>"


def _build_rule(doc: dict[str, Any]) -> Rule:
    key = next(k for k in TARGET_KEYS if k in doc)
    target = doc[key]
    names = access = None
    if key == "layers":
        access = frozenset(target["access"]) if "access" in target else None
        names = frozenset(target["ids"]) if "ids" in target else None
    elif "*" not in target:
        names = frozenset(target)
    return Rule(id=doc["id"], roles=frozenset(doc["roles"]), actions=frozenset(doc["actions"]),
                kind=TARGET_KEYS[key], names=names, access=access, scope=doc.get("scope", "city"))


def _check_rule(rule: Rule, where: str, policy: Policy) -> list[str]:
    problems = []
    for role in sorted(rule.roles - {"*"} - set(ROLES)):
        problems.append(f"{where}.roles: unknown role {role!r} (known: {', '.join(ROLES)})")
    if "*" in rule.roles and len(rule.roles) > 1:
        problems.append(f"{where}.roles: '*' already means every caller; list nothing else with it")
    for action in sorted(rule.actions - KIND_ACTIONS[rule.kind]):
        problems.append(f"{where}.actions: {action!r} does not apply to {rule.kind}s "
                        f"(allowed: {', '.join(sorted(KIND_ACTIONS[rule.kind]))})")
    known = policy.names(rule.kind)
    key = next(k for k, v in TARGET_KEYS.items() if v == rule.kind)
    sub = ".ids" if rule.kind == "layer" else ""
    for name in sorted((rule.names or frozenset()) - known):
        problems.append(f"{where}.{key}{sub}: unknown {rule.kind} {name!r}")
    if rule.scope != "city" and rule.kind not in ("layer", "module"):
        problems.append(f"{where}.scope: {rule.kind}s cannot be filtered by row; only 'city' applies")
    if rule.kind == "layer" and rule.scope != "city":
        ids = rule.names if rule.names is not None else {
            i for i, a in policy.layer_access.items() if rule.access and a in rule.access}
        for layer_id in sorted(ids & known):
            link = policy.links[layer_id]
            if policy.layer_access[layer_id] == "public":
                problems.append(f"{where}.scope: layer {layer_id!r} is public and served unfiltered; "
                                f"a {rule.scope} scope cannot be enforced on it")
            elif rule.scope == "district" and link.district_column is None:
                problems.append(f"{where}.scope: layer {layer_id!r} has no district reference")
            elif rule.scope == "enterprise" and not link.has_enterprise:
                problems.append(f"{where}.scope: layer {layer_id!r} has no link to an enterprise (USCC)")
    return problems


def _read(source: Path, schema: dict[str, Any]) -> dict[str, Any]:
    """One policy document, parsed and checked against ``schema`` (stages 1 and 2), or PolicyError."""
    name = source.name
    try:
        doc = read_yaml(source)
    except YamlProblem as exc:
        raise PolicyError([str(exc)]) from None
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise PolicyError([f"{name}: {_where(tuple(e.absolute_path), doc)}: {e.message}" for e in errors])
    problems: list[str] = []
    for i, rule_doc in enumerate(doc.get("rules") or ()):
        keys = [k for k in TARGET_KEYS if k in rule_doc]
        if len(keys) != 1:
            problems.append(f"{name}: rules[{i}](id={rule_doc['id']}): exactly one target is needed "
                            f"({', '.join(TARGET_KEYS)}); found {', '.join(keys) or 'none'}")
    if problems:
        raise PolicyError(problems)
    return doc


def _add_fragment(doc: dict[str, Any], fragment: dict[str, Any], name: str) -> list[str]:
    """Merge a module's policy fragment into the policy: new route families and coverages, more rules."""
    problems = []
    for key in ("pages", "modules", "coverages"):
        for family, value in (fragment.get(key) or {}).items():
            if family in (doc.get(key) or {}):
                problems.append(f"{name}: {key}.{family}: already declared by another part of the policy")
            doc.setdefault(key, {})[family] = value
    doc["rules"] = [*doc["rules"], *(fragment.get("rules") or ())]
    return problems


def load_policy(path: Path | str | None = None, registry: Any = None,
                config: Mapping[str, Any] | None = None) -> Policy:
    """Load and validate the policy or raise PolicyError.

    Default: the packaged ``policy.yaml`` plus the fragment each active module declares (``Manifest.policy``: its
    route families and the rules that open them). A ``path`` names one complete policy file instead.
    """
    from core.manifest import collect, manifests, resource
    from layers.registry import default_registry

    source = Path(path) if path is not None else POLICY_PATH
    name = source.name
    doc = _read(source, SCHEMA)
    problems: list[str] = []
    if path is None:
        for manifest in manifests(config):
            if manifest.policy:
                fragment_path = resource(manifest.policy)
                fragment = _read(fragment_path, FRAGMENT_SCHEMA)
                problems.extend(_add_fragment(doc, fragment, f"{manifest.name}: {fragment_path.name}"))
    if problems:
        raise PolicyError(problems)
    processes = frozenset(dict(collect(config, "processes")))

    registry = registry if registry is not None else default_registry()
    routes = [Route("page", n, tuple(r.get("exact", ())), tuple(r.get("prefix", ())))
              for n, r in (doc.get("pages") or {}).items()]
    routes += [Route("module", n, (), tuple(r.get("prefix", [f"/api/{n}"])), r.get("action"))
               for n, r in (doc.get("modules") or {}).items()]
    policy = Policy(rules=tuple(_build_rule(r) for r in doc["rules"]), routes=tuple(routes),
                    layer_access={layer.id: layer.access for layer in registry},
                    coverage_access={n: c["access"] for n, c in (doc.get("coverages") or {}).items()},
                    links=scope_links(registry), processes=processes, source=source)
    seen: dict[str, int] = {}
    for i, rule in enumerate(policy.rules):
        where = f"{name}: rules[{i}](id={rule.id})"
        if rule.id in seen:
            problems.append(f"{where}.id: duplicate of rules[{seen[rule.id]}]")
        seen.setdefault(rule.id, i)
        problems.extend(_check_rule(rule, where, policy))
    for route in policy.routes:
        if not route.exact and not route.prefix:
            problems.append(f"{name}: pages.{route.name}: give 'exact' or 'prefix' paths")
    if problems:
        raise PolicyError(problems)
    return policy


__all__ = ["ACTIONS", "AUTHZ_ENVIRON_KEY", "Authz", "CURRENT_AUTHZ", "Decision", "NOTHING", "Policy", "PolicyError",
           "Route", "Rule", "Scope", "Target", "active_only", "current_authz", "load_policy", "refusal_messages",
           "token_scopes_for"]
