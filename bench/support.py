"""Shared by the benchmarks: requests reach the policy gate as a signed-in user of a given role; the configured
database as the default target; the report written and printed."""

from __future__ import annotations

from pathlib import Path
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


def configured_db() -> str:
    """The database the configuration points at (the dev city), for a bench given no ``--db``."""
    from core.config import load_config
    from core.db import database_url

    return database_url(load_config())


def write_report(out: Path, text: str) -> int:
    """Write the report to ``out`` (its folder made), print it; the bench's exit status."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    return 0
