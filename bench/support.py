"""Shared by the benchmarks: requests reach the policy gate as a signed-in city dispatcher."""

from __future__ import annotations

from typing import Any


def as_dispatcher(app: Any) -> Any:
    """Requests reach the policy gate as a signed-in city dispatcher: the bench measures drawing, not signing in
    (an anonymous caller would be refused most layers and see an empty map). The identity is set just in front of
    the gate, inside the authentication middleware, which would otherwise reset it to anonymous."""
    try:
        from access.policy.gate import PolicyGate
        from core.identity import ENVIRON_KEY, Identity
    except ImportError:  # no policy gate in this build
        return app
    who = Identity(0, "bench-dispatcher", frozenset({"dispatcher"}), method="session")
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
