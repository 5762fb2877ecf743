"""Shared by the benchmarks: requests reach the policy gate as a signed-in user of a given role."""

from __future__ import annotations

from typing import Any


def as_role(app: Any, role: str, *, district: str | None = None, uscc: str | None = None,
            username: str | None = None) -> Any:
    """Requests reach the policy gate as a signed-in user with ``role`` (and, for district- or enterprise-level
    roles, their district or enterprise): the bench measures the work, not signing in (an anonymous caller would
    be refused most of it). The identity is set just in front of the gate, inside the authentication middleware,
    which would otherwise reset it to anonymous."""
    try:
        from access.policy.gate import PolicyGate
        from core.identity import ENVIRON_KEY, Identity
    except ImportError:  # no policy gate in this build
        return app
    who = Identity(0, username or f"bench-{role}", frozenset({role}), method="session", district_code=district,
                   enterprise_uscc=uscc)
    parent, attr, node = app, "wsgi_app", app.wsgi_app
    while node is not None and not isinstance(node, PolicyGate):
        parent, attr, node = node, "app", getattr(node, "app", None)
    if node is None:
        return app
    gate = node

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ[ENVIRON_KEY] = who
        return gate(environ, start_response)

    setattr(parent, attr, wsgi)
    return app


def as_dispatcher(app: Any) -> Any:
    """Requests reach the policy gate as a signed-in city dispatcher (see :func:`as_role`)."""
    return as_role(app, "dispatcher", username="bench-dispatcher")
