"""Who is calling: the one object every part of the authorisation path agrees on.

The authentication middleware (sessions, API tokens, HTTP Basic with a token) resolves the caller and stores an
:class:`Identity` in the WSGI environ under :data:`ENVIRON_KEY`; the policy gate, the OGC mounts, the audit log and
the business modules read it from there (Flask code via :func:`current_identity`). A request nobody vouched for
carries :data:`ANONYMOUS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENVIRON_KEY = "onemap.identity"

# 三权分立: system_admin, security_admin and auditor are separate roles that no one account may combine.
ROLES: dict[str, dict[str, str]] = {
    "system_admin": {"zh-CN": "系统管理员", "en": "System administrator"},
    "security_admin": {"zh-CN": "安全管理员", "en": "Security administrator"},
    "auditor": {"zh-CN": "安全审计员", "en": "Auditor"},
    "city_regulator": {"zh-CN": "市级监管人员", "en": "City regulator"},
    "district_regulator": {"zh-CN": "区县监管人员", "en": "District regulator"},
    "dispatcher": {"zh-CN": "调度员", "en": "Dispatcher"},
    "grid_worker": {"zh-CN": "网格员", "en": "Grid worker"},
    "enterprise_user": {"zh-CN": "企业用户", "en": "Enterprise user"},
    "intermediary_user": {"zh-CN": "中介机构用户", "en": "Intermediary user"},
    "public": {"zh-CN": "公众", "en": "Public"},
}
SEPARATED_ROLES = frozenset({"system_admin", "security_admin", "auditor"})


@dataclass(frozen=True)
class Identity:
    user_id: int | None
    username: str
    roles: frozenset[str]
    district_code: str | None = None      # data scope of district-level users (GB/T 2260)
    enterprise_uscc: str | None = None    # enterprise users see only their own enterprise
    method: str = "anonymous"             # anonymous | session | token | basic
    token_scopes: frozenset[str] | None = None  # None: not a token, or an unrestricted one
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


ANONYMOUS = Identity(user_id=None, username="anonymous", roles=frozenset({"public"}))


def identity_from_environ(environ: Mapping[str, Any]) -> Identity:
    return environ.get(ENVIRON_KEY, ANONYMOUS)


def current_identity() -> Identity:
    """The caller of the current Flask request."""
    from flask import request

    return identity_from_environ(request.environ)
