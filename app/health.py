"""``/healthz``: the service's status for anyone (load balancers, uptime probes); the detail — database and
extension versions, the feature count of every layer — only for operators and for a probe on this host.

The counts of restricted layers and the exact versions are not for anonymous callers: they tell an outsider how many
sensitive targets or experts there are and which vulnerabilities to try. Operators are those the policy lets
administer the system (``access/policy/policy.yaml``, rule ``system-administration``); a local probe is a request whose
client address — behind a trusted proxy the forwarded one (``auth.trusted_proxies``) — is a loopback address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import text

from access.audit import CLIENT_IP_KEY
from access.policy.rules import current_authz
from core.database import engine
from core.db import check_database
from core.errors import DomainError
from layers.registry import default_registry
from mapserver.public_base import FORWARDING_HEADERS

bp = Blueprint("health", __name__)

_FORWARDED_FOR = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", *FORWARDING_HEADERS)


def _local_probe() -> bool:
    environ = request.environ
    try:
        local = ipaddress.ip_address(environ.get(CLIENT_IP_KEY) or request.remote_addr or "").is_loopback
    except ValueError:
        return False
    if not local:
        return False
    # From a loopback peer that is not a trusted proxy, forwarding headers mean a proxy on this host that nobody
    # configured: the request came from elsewhere, and the peer address says nothing about the caller.
    trusted = current_app.config["ONEMAP_AUTH"].trusted_proxies
    return (environ.get("REMOTE_ADDR") or "") in trusted or not any(environ.get(h) for h in _FORWARDED_FOR)


def may_see_detail() -> bool:
    authz = current_authz()
    return _local_probe() or (authz is not None and authz.can("admin", "module", "admin"))


def _detail() -> tuple[dict[str, Any], int]:
    registry = default_registry()
    try:
        versions = check_database(engine())
    except DomainError as exc:
        return {"status": "unavailable", "database": {"ok": False, "error": exc.message_en}, "layers": {}}, 503
    counts: dict[str, int | None] = {}
    with engine().connect() as conn:
        existing = set(conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
        for layer in registry:
            # Table names come from the validated registry (pattern ^[a-z][a-z0-9_]*$), never from the request.
            counts[layer.id] = (conn.execute(text(f'SELECT count(*) FROM "{layer.table}"')).scalar_one()
                                if layer.table in existing else None)
    empty = [k for k, v in counts.items() if not v]
    body: dict[str, Any] = {
        "status": "ok" if not empty else "degraded",
        "database": {"ok": True, **versions},
        "layers": counts,
    }
    if empty:
        body["empty_layers"] = empty
    return body, 200


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    body, status = _detail()
    if not may_see_detail():
        body = {"status": body["status"]}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"  # the answer depends on who asks
    return response, status
