"""The audit log API: who did what, when, from where, to which object, with what outcome.

    from access import audit
    audit.record(audit.AuditEvent("enterprise.update", object_type="enterprise", object_id=uscc,
                                  details={"fields": ["address"]}))
    audit.record(audit.AuditEvent("export.features", object_type="layer", object_id="enterprises",
                                  details={"format": "xlsx", "rows": 812}), conn=conn)  # inside your transaction

Who and where (user, IP, user agent, method, path) are filled in from the current request when not given; the
database assigns the id, the UTC timestamp and the hash chain (see :mod:`access.audit.schema`). Pass ``conn`` to
make the record part of your own transaction (the write and its record commit or vanish together); without it
the record is committed on its own, which is what denials and failed sign-ins need. Failing to write an audit
record raises: an unaudited write is worse than a failed one.

Besides explicit records, :class:`access.authn.middleware.AuthMiddleware` records every unsafe-method request
(POST, PUT, PATCH, DELETE — Flask routes and the OGC mounts alike) with its status, so no write goes unlogged.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Connection, Engine

from access.models import audit_log
from core.identity import ANONYMOUS, ENVIRON_KEY, Identity

log = logging.getLogger(__name__)

OUTCOMES = ("success", "denied", "failed")
CLIENT_IP_KEY = "onemap.client_ip"
MAX_DETAILS_BYTES = 8192


@dataclass(frozen=True)
class AuditEvent:
    action: str                       # dotted verb: auth.login, access.denied, enterprise.update, export.features
    outcome: str = "success"          # success | denied | failed
    object_type: str | None = None
    object_id: str | int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    # Filled from the current request when None:
    user_id: int | None = None
    username: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    method: str | None = None
    path: str | None = None


@dataclass
class _RequestContext:
    environ: Mapping[str, Any]
    engine: Engine | None


_current: contextvars.ContextVar[_RequestContext | None] = contextvars.ContextVar("onemap_audit_request",
                                                                                  default=None)


def bind_request(environ: Mapping[str, Any], engine: Engine | None) -> None:
    """Called by the authentication middleware when a request starts (and :func:`unbind_request` when its
    response is closed): records then know who, from where, and which database."""
    _current.set(_RequestContext(environ, engine))


def unbind_request() -> None:
    _current.set(None)


@contextmanager
def request_context(environ: Mapping[str, Any], engine: Engine | None) -> Iterator[None]:
    """The same for CLI jobs and tests."""
    token = _current.set(_RequestContext(environ, engine))
    try:
        yield
    finally:
        _current.reset(token)


def current_environ() -> Mapping[str, Any] | None:
    ctx = _current.get()
    return ctx.environ if ctx else None


def request_engine(environ: Mapping[str, Any] | None = None) -> Engine:
    """The database engine of the current request: from the middleware's context, else the Flask app's.

    Given ``environ``, the middleware's context counts only if it was bound for that very request: a context
    left over from an earlier request on this thread (a response never closed) must not send the record to
    another application's database.
    """
    ctx = _current.get()
    if ctx is not None and ctx.engine is not None and (environ is None or ctx.environ is environ):
        return ctx.engine
    from flask import has_app_context

    if has_app_context():
        from core.database import engine

        return engine()
    raise RuntimeError("no request context: pass conn= explicitly")


def _text(value: str) -> str:
    """Text PostgreSQL can store: NUL becomes U+FFFD, lone surrogates (undecodable bytes) become "?". A probe full
    of odd characters is exactly what the log must keep, so its record must never fail to insert."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _clip(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    return _text(str(value)[:limit])


def _details_json(details: Mapping[str, Any]) -> str:
    text = _text(json.dumps(dict(details), ensure_ascii=False, default=str, sort_keys=True))
    if len(text.encode("utf-8")) > MAX_DETAILS_BYTES:
        # Never drop the record because its details are big: keep a marked, truncated rendering instead.
        text = json.dumps({"truncated": True, "text": text[: MAX_DETAILS_BYTES // 4]}, ensure_ascii=False)
    # NUL is the one character jsonb cannot hold; a garbled credential must not make the audit insert fail.
    return text.replace("\\u0000", "\\ufffd")


def _row(event: AuditEvent, environ: Mapping[str, Any] | None) -> dict[str, Any]:
    if event.outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {OUTCOMES}, not {event.outcome!r}")
    who: Identity = environ.get(ENVIRON_KEY, ANONYMOUS) if environ else ANONYMOUS
    env = environ or {}
    user_id = event.user_id if event.user_id is not None else who.user_id
    username = event.username if event.username is not None else (who.username if environ else None)
    return {
        "user_id": user_id,
        "username": _clip(username, 64),
        "action": _clip(event.action, 64),
        "outcome": event.outcome,
        "object_type": _clip(event.object_type, 64),
        "object_id": _clip(event.object_id, 200),
        "ip": _clip(event.ip or env.get(CLIENT_IP_KEY) or env.get("REMOTE_ADDR"), 45),
        "user_agent": _clip(event.user_agent or env.get("HTTP_USER_AGENT"), 300),
        "method": _clip(event.method or env.get("REQUEST_METHOD"), 10),
        "path": _clip(event.path or _path_of(env), 500),
        "details": _details_json(event.details),
    }


def _wsgi_text(value: str) -> str:
    """WSGI hands the path over as bytes decoded as latin-1: read it back as the UTF-8 the client sent (a Chinese
    layer name stays readable in the log), keeping undecodable bytes visible as U+FFFD."""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # already text (a caller that is not a WSGI server)
        return value


def _path_of(environ: Mapping[str, Any]) -> str | None:
    if not environ:
        return None
    path = _wsgi_text(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or None
    query = environ.get("QUERY_STRING")
    # Query strings of OGC requests say what was asked for (layer, bbox); they never carry credentials here.
    return f"{path}?{query}" if path and query else path


def record(event: AuditEvent | None = None, conn: Connection | None = None, *, action: str | None = None,
           outcome: str = "success", identity: Identity | None = None, environ: Mapping[str, Any] | None = None,
           object_type: str | None = None, object_id: str | int | None = None,
           details: Mapping[str, Any] | None = None) -> int:
    """Append an event to the audit log and return its id (see the module docstring).

    Either ``record(AuditEvent(...), conn=...)`` or the keyword form ``record(action=..., outcome=...,
    identity=..., environ=..., object_type=..., object_id=..., details=...)`` (what the policy gate uses);
    ``identity`` and ``environ`` default to the current request's.
    """
    from sqlalchemy import String, cast, literal
    from sqlalchemy.dialects.postgresql import JSONB

    if event is None:
        if not action:
            raise TypeError("record() needs an AuditEvent or action=")
        event = AuditEvent(action, outcome, object_type, object_id, details or {},
                           user_id=identity.user_id if identity else None,
                           username=identity.username if identity else None)
    row = _row(event, environ if environ is not None else current_environ())
    details = row.pop("details")
    # Bound as text and cast by PostgreSQL: our own serialisation (truncation, NUL removal) is what gets stored.
    stmt = insert(audit_log).values(**row, details=cast(literal(details, String()), JSONB)).returning(audit_log.c.id)
    if conn is not None:
        return conn.execute(stmt).scalar_one()
    with request_engine(environ).begin() as own:
        return own.execute(stmt).scalar_one()


# -- search (the auditors' page and API) ----------------------------------------------------------------------
@dataclass(frozen=True)
class AuditQuery:
    username: str | None = None
    action: str | None = None        # exact, or a prefix ending in "." / "*" (e.g. "auth.")
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    object_type: str | None = None
    object_id: str | None = None
    before_id: int | None = None     # keyset paging: rows older than this id
    limit: int = 100


def search(conn: Connection, q: AuditQuery) -> list[dict[str, Any]]:
    c = audit_log.c
    where = []
    if q.username:
        where.append(c.username == q.username)
    if q.action:
        if q.action.endswith((".", "*")):
            prefix = q.action.rstrip("*").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(c.action.like(prefix + "%", escape="\\"))
        else:
            where.append(c.action == q.action)
    if q.outcome:
        where.append(c.outcome == q.outcome)
    if q.since:
        where.append(c.ts >= q.since)
    if q.until:
        where.append(c.ts < q.until)
    if q.object_type:
        where.append(c.object_type == q.object_type)
    if q.object_id:
        where.append(c.object_id == q.object_id)
    if q.before_id:
        where.append(c.id < q.before_id)
    stmt = select(audit_log).where(and_(True, *where)).order_by(c.id.desc()).limit(max(1, min(q.limit, 1000)))
    return [dict(r._mapping) for r in conn.execute(stmt)]
