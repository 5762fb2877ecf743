"""The enterprise self-edit: the case effect that applies an approved change request (case type enterprise_change).

An enterprise user cannot write its record directly (policy: the records module is read-only for it); it submits a
change request, a case of type ``enterprise_change`` (``cases/enterprise_change.yaml``) anchored to its enterprise.
When a regulator approves it, the case engine runs this effect inside the approval's transaction, and the changes
go through :func:`supervision.records.service.update_in` — the function behind a regulator's own edit — so the
validation, the write scope (the approver's), the version check and the history entry are the same; the history
entry says ``source: change_request`` and names the case. Any refusal raises and the whole approval rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, current_authz, load_policy
from core.changes import Changes
from core.errors import InvalidInput
from core.identity import Identity
from supervision.records import history, service
from supervision.records.schemas import ENTERPRISE


def access_for(identity: Identity | None) -> LayerAccess:
    """The approver's access: the request's own when it is theirs, else one built from the policy; the engine
    itself (no identity) acts city-wide."""
    if identity is None:
        return LayerAccess.unrestricted()
    authz = current_authz()
    if authz is not None and authz.identity == identity:
        return LayerAccess(authz)
    return LayerAccess(Authz(load_policy(), identity))


def apply_change(ctx: Any, spec: Mapping[str, Any]) -> None:
    """Effect ``apply_enterprise_change``: apply ``data.changes`` (based on ``data.version``) to the anchored
    enterprise. ``ctx`` is the engine's ``EffectContext`` (conn, case, identity, changes)."""
    case = ctx.case
    data = case.get("data") or {}
    uscc = case.get("enterprise_uscc") or case.get("anchor_id")
    if case.get("anchor_kind") not in (None, "enterprise") or not uscc:
        raise InvalidInput("anchor", "an enterprise (USCC)", value=case.get("anchor_kind"),
                           details={"reason": "a change request is anchored to an enterprise"})
    changes = data.get("changes")
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInput("changes", "the fields to change", details={"reason": "required"})
    # the record's live events are checked against this module's declared types, then handed to the engine's unit
    # of work, which publishes them with its own once the approval has committed
    relay = Changes(event_types=history.EVENT_TYPES)
    identity = ctx.identity
    service.update_in(ctx.conn, relay, ENTERPRISE, uscc, {**changes, "version": data.get("version")},
                      access=access_for(identity), actor=identity.username if identity else "system",
                      source="change_request", case_id=case.get("id"))
    ctx.changes.pending.extend(relay.pending)


__all__ = ["access_for", "apply_change"]
