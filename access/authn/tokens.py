"""API tokens for desktop GIS clients and machines: scoped, expiring, revocable, stored as sha256 only.

A token is ``om_`` + 43 url-safe characters (256 random bits), shown once at creation. High entropy is why a
plain sha256 is the right hash here (no salt or argon2 needed: nothing to brute-force), and lets the lookup be
one indexed equality.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.authn import principal as principals
from access.models import TOKEN_SCOPES
from access.settings import AuthSettings
from core.errors import InvalidInput, NotFound

PREFIX = "om_"
TOKEN = re.compile(r"^om_[A-Za-z0-9_-]{43}$")
LAST_USED_EVERY_SECONDS = 60


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user_id: int
    scopes: frozenset[str]
    principal: Any = field(default=None, compare=False)  # access.authn.principal.Principal when asked for


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def create(conn: Connection, settings: AuthSettings, user_id: int, name: str, scopes: list[str],
           days: int | None = None) -> tuple[str, dict[str, Any]]:
    """Return (the token — show it once, it is not stored —, its public record)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "1–100 characters")
    if not scopes or not set(scopes) <= set(TOKEN_SCOPES):
        raise InvalidInput("scopes", ", ".join(TOKEN_SCOPES), value=",".join(map(str, scopes or [])))
    days = settings.token_default_days if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= settings.token_max_days:
        raise InvalidInput("days", f"1–{settings.token_max_days}", value=days)
    token = PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(text(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, scopes, expires_at) "
        "VALUES (:u, :n, :h, :p, :s, now() + make_interval(days => :d)) "
        "RETURNING id, name, prefix, scopes, created_at, expires_at"),
        {"u": user_id, "n": name, "h": token_hash(token), "p": token[:10], "s": sorted(set(scopes)), "d": days}
    ).one()
    return token, _public(row._mapping)


def verify(conn: Connection, token: str, ip: str | None, *,
           principal: bool = False) -> tuple[TokenInfo | None, str]:
    """(token, "ok") or (None, why): "malformed", "unknown", "revoked", "expired", "inactive_user".
    ``principal``: the token's account, roles and grants come with it (``info.principal``), in the same
    statement."""
    if not TOKEN.match(token):
        return None, "malformed"
    extra = f"{principals.COLUMNS}, " if principal else ""
    row = conn.execute(text(
        f"SELECT {extra}t.id, t.user_id, t.scopes, t.revoked_at IS NOT NULL AS revoked, t.expires_at <= now() AS expired, "
        "       u.active, t.last_used_at IS NULL OR t.last_used_at < now() - make_interval(secs => :every) AS touch "
        "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = :h"),
        {"h": token_hash(token), "every": LAST_USED_EVERY_SECONDS}).first()
    if row is None:
        return None, "unknown"
    if row.revoked:
        return None, "revoked"
    if row.expired:
        return None, "expired"
    if not row.active:
        return None, "inactive_user"
    if row.touch:
        conn.execute(text("UPDATE api_tokens SET last_used_at = now(), last_used_ip = :ip WHERE id = :id"),
                     {"ip": ip, "id": row.id})
    return TokenInfo(row.id, row.user_id, frozenset(row.scopes),
                     principals.of_row(row) if principal else None), "ok"


def revoke(conn: Connection, token_id: int, owner_id: int | None) -> dict[str, Any]:
    """Revoke one token (``owner_id`` None: any owner — the security administrator's view)."""
    row = conn.execute(text(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) "
        "WHERE id = :id AND (CAST(:owner AS integer) IS NULL OR user_id = :owner) "
        "RETURNING id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at"),
        {"id": token_id, "owner": owner_id}).first()
    if row is None:
        raise NotFound(f"token {token_id} not found", f"令牌 {token_id} 不存在")
    return _public(row._mapping)


def list_tokens(conn: Connection, owner_id: int | None) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT t.id, t.user_id, u.username, t.name, t.prefix, t.scopes, t.created_at, t.expires_at, t.revoked_at, "
        "t.last_used_at, t.last_used_ip FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE CAST(:owner AS integer) IS NULL OR t.user_id = :owner ORDER BY t.created_at DESC, t.id DESC"),
        {"owner": owner_id})
    return [_public(r._mapping) for r in rows]


def _public(m: Any) -> dict[str, Any]:
    out = {k: v for k, v in dict(m).items() if k != "token_hash"}
    out["scopes"] = sorted(out.get("scopes") or [])
    for key, value in list(out.items()):
        if isinstance(value, datetime):
            out[key] = value.isoformat()
    return out
