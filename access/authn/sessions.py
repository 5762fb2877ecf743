"""Server-side sessions: the cookie holds only a random id; the table holds its sha256, the stage, the CSRF token
and the timestamps that the idle and absolute timeouts are measured from (in the database's clock)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from werkzeug.http import dump_cookie

from access.authn import principal as principals
from access.settings import AuthSettings

COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)
TOUCH_EVERY_SECONDS = 30  # last_seen_at is rewritten at most this often: idle timeouts are minutes long


@dataclass(frozen=True)
class Session:
    id_hash: str
    user_id: int
    stage: str  # totp | enrol | password | full
    csrf_token: str
    principal: Any = field(default=None, compare=False)  # access.authn.principal.Principal when asked for


def hash_id(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode("ascii")).hexdigest()


def create(conn: Connection, user_id: int, stage: str, ip: str | None, user_agent: str | None) -> tuple[str, Session]:
    """A new session; returns (cookie value, session). The cookie value is never stored."""
    value = secrets.token_urlsafe(32)
    session = Session(hash_id(value), user_id, stage, secrets.token_urlsafe(32))
    conn.execute(text(
        "INSERT INTO auth_sessions (id_hash, user_id, stage, csrf_token, ip, user_agent) "
        "VALUES (:h, :u, :s, :c, :ip, :ua)"),
        {"h": session.id_hash, "u": user_id, "s": stage, "c": session.csrf_token, "ip": ip,
         "ua": (user_agent or "")[:300] or None})
    return value, session


def load(conn: Connection, cookie_value: str, settings: AuthSettings, *,
         principal: bool = False) -> tuple[Session | None, str]:
    """(session, "ok") or (None, why): "malformed", "unknown", "idle_timeout", "absolute_timeout",
    "step_timeout" or "inactive_user". Expired sessions are deleted on sight. ``principal``: the session's
    account, roles and grants come with it (``session.principal``), read in the same statement."""
    if not COOKIE_VALUE.match(cookie_value):
        return None, "malformed"
    id_hash = hash_id(cookie_value)
    extra = f"{principals.COLUMNS}, " if principal else ""
    row = conn.execute(text(
        f"SELECT {extra}s.user_id, s.stage, s.csrf_token, u.active, "
        "       now() - s.last_seen_at > :idle AS idle_over, now() - s.created_at > :absolute AS absolute_over, "
        "       now() - s.created_at > :step AS step_over, "
        "       now() - s.last_seen_at > make_interval(secs => :touch) AS touch "
        "FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = :h"),
        {"h": id_hash, "idle": settings.idle_timeout, "absolute": settings.absolute_timeout,
         "step": settings.step_timeout, "touch": TOUCH_EVERY_SECONDS}).first()
    if row is None:
        return None, "unknown"
    why = None
    if not row.active:
        why = "inactive_user"
    elif row.stage != "full" and row.step_over:
        why = "step_timeout"
    elif row.absolute_over:
        why = "absolute_timeout"
    elif row.idle_over:
        why = "idle_timeout"
    if why:
        end(conn, id_hash)
        return None, why
    if row.touch:
        conn.execute(text("UPDATE auth_sessions SET last_seen_at = now() WHERE id_hash = :h"), {"h": id_hash})
    return Session(id_hash, row.user_id, row.stage, row.csrf_token,
                   principals.of_row(row) if principal else None), "ok"


def advance(conn: Connection, session: Session, stage: str, ip: str | None,
            user_agent: str | None) -> tuple[str, Session]:
    """Move to the next stage under a *new* id (no session fixation across a privilege change)."""
    end(conn, session.id_hash)
    return create(conn, session.user_id, stage, ip, user_agent)


def end(conn: Connection, id_hash: str) -> bool:
    return conn.execute(text("DELETE FROM auth_sessions WHERE id_hash = :h RETURNING user_id"),
                        {"h": id_hash}).first() is not None


def end_all(conn: Connection, user_id: int, keep: str | None = None) -> int:
    result = conn.execute(text("DELETE FROM auth_sessions WHERE user_id = :u AND id_hash IS DISTINCT FROM :k"),
                          {"u": user_id, "k": keep})
    return result.rowcount


def purge_expired(conn: Connection, settings: AuthSettings) -> int:
    """Delete every session :func:`load` would refuse for its age (idle, absolute or half-done sign-in)."""
    result = conn.execute(text(
        "DELETE FROM auth_sessions WHERE now() - last_seen_at > :idle OR now() - created_at > :absolute "
        "OR (stage <> 'full' AND now() - created_at > :step)"),
        {"idle": settings.idle_timeout, "absolute": settings.absolute_timeout, "step": settings.step_timeout})
    return result.rowcount


def cookie(settings: AuthSettings, value: str) -> str:
    """Set-Cookie value: a browser-session cookie (the server enforces the timeouts), never readable by scripts."""
    return dump_cookie(settings.cookie_name, value, path="/", httponly=True, secure=settings.secure_cookies,
                       samesite="Lax")


def expired_cookie(settings: AuthSettings) -> str:
    return dump_cookie(settings.cookie_name, "", max_age=0, path="/", httponly=True,
                       secure=settings.secure_cookies, samesite="Lax")
