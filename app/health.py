"""``/healthz``: database status, PostGIS version and the feature count of every layer."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from core.database import engine
from core.db import check_database
from core.errors import DomainError
from layers.registry import default_registry

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    registry = default_registry()
    try:
        versions = check_database(engine())
    except DomainError as exc:
        body = {"status": "unavailable", "database": {"ok": False, "error": exc.message_en}, "layers": {}}
        return jsonify(body), 503
    counts: dict[str, int | None] = {}
    with engine().connect() as conn:
        existing = set(conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
        for layer in registry:
            # Table names come from the validated registry (pattern ^[a-z][a-z0-9_]*$), never from the request.
            counts[layer.id] = (conn.execute(text(f'SELECT count(*) FROM "{layer.table}"')).scalar_one()
                                if layer.table in existing else None)
    empty = [k for k, v in counts.items() if not v]
    body = {
        "status": "ok" if not empty else "degraded",
        "database": {"ok": True, **versions},
        "layers": counts,
    }
    if empty:
        body["empty_layers"] = empty
    return jsonify(body), 200
