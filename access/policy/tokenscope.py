"""What an API token's scopes open, and how a refusal is worded (used by the policy, the gate and the row scope).

A token's scopes (access/models.py TOKEN_SCOPES) can open OGC reads, OGC process runs, REST reads and writes.
Exports and administration always need a signed-in person: no token scope names them. A refusal of a token that
lacks a scope its owner's role would use names the scope; a role refusal stays a role refusal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from access.policy.rules import Decision, Target
    from core.identity import Identity

ACTIONS_ZH = {"read": "查看", "write": "修改", "export": "导出", "admin": "管理", "execute": "运行", "audit": "审计"}
_OGC_KINDS = frozenset({"layer", "coverage", "process", "service"})
# Process jobs are the results of executions: a token that may run a process may read its jobs.
_JOBS = ("service", "jobs")


def token_scopes_for(action: str, target: Target) -> tuple[str, ...]:
    """The API token scopes any one of which lets a token ``action`` on ``target`` (the first is the one to ask for)."""
    if target.kind in _OGC_KINDS:
        if (target.kind, target.name) == _JOBS and action == "read":
            return ("ogc:read", "ogc:execute")
        return (f"ogc:{action}",)
    return (f"api:{action}",)


def refusal_messages(identity: Identity, action: str, target: Target, decision: Decision) -> tuple[str, str]:
    """(English, Chinese) of a 403: a token short of a scope is told which scope, not that its role may not."""
    act = ACTIONS_ZH.get(action, action)
    what = f"{action} {target}"
    if decision.token_scope:
        scope = decision.token_scope
        return (f"the API token lacks the scope {scope!r} needed to {what}; your role may, so create a token "
                f"with the scope {scope}",
                f"API 令牌缺少授权范围 {scope}，不能{act}{target.name}；请创建含 {scope} 范围的令牌")
    if identity.token_scopes is not None and decision.rules:
        return decision.reason, f"API 令牌不能{act}{target.name}，请登录后操作"
    return f"your role may not {what}", f"无权{act}{target.name}"
