"""Temporary grants (临时授权): a role or a permission for one user, optionally narrowed to a layer, a module and
a district, between ``starts_at`` and ``expires_at``, with who granted it and why.

The policy gate asks :func:`active_grants` (also pre-loaded per request into
``identity.attributes["grants"]`` by the authentication middleware, so the gate need not query again).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.errors import Forbidden
from core.errors import Conflict, InvalidInput, NotFound
from core.identity import ROLES, SEPARATED_ROLES

PERMISSION = re.compile(r"^[a-z][a-z0-9_]*(:[a-z0-9_*]+)*$")  # e.g. "layer:read", "export:features"
MAX_GRANT_DAYS = 90  # a temporary grant that lasts longer is a role change and goes through that process

_COLUMNS = "id, user_id, role, permission, layer, module, district_code, starts_at, expires_at, granted_by, reason"


@dataclass(frozen=True)
class Grant:
    id: int
    user_id: int
    role: str | None            # a role from identity.ROLES, or None when a single permission is granted
    permission: str | None      # a permission name understood by the policy (e.g. "layer:read")
    layer: str | None           # limited to one layer (registry id), or None
    module: str | None          # limited to one business module, or None
    district_code: str | None   # limited to one district, or None (the grantee's own scope applies)
    starts_at: datetime
    expires_at: datetime
    granted_by: int | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["starts_at"] = self.starts_at.isoformat()
        out["expires_at"] = self.expires_at.isoformat()
        return out


def active_grants(user_id: int | None, conn: Connection | None = None,
                  at: datetime | None = None) -> list[Grant]:
    """The grants of ``user_id`` in force now (or at ``at``), not revoked. Anonymous callers have none.

    Without ``conn`` it uses the current request's database (set by the authentication middleware, or the
    Flask app's).
    """
    if user_id is None:
        return []
    if conn is None:
        from access.audit import request_engine

        with request_engine().connect() as own:
            return active_grants(user_id, own, at)
    rows = conn.execute(text(
        f"SELECT {_COLUMNS} FROM grants WHERE user_id = :u AND {_in_force('', 'CAST(:at AS timestamptz)')} "
        "ORDER BY expires_at, id"),
        {"u": user_id, "at": at})
    return [Grant(*r) for r in rows]


def _in_force(alias: str, at: str) -> str:
    when = f"coalesce({at}, now())"
    return f"{alias}revoked_at IS NULL AND {alias}starts_at <= {when} AND {alias}expires_at > {when}"


# The grants in force now of a user joined as ``u``, as one JSON array: selected in the statement that
# authenticates a request (see access.authn.principal), so the gate need not query again.
JOINED_GRANTS = (
    "(SELECT coalesce(json_agg(json_build_object("
    + ", ".join(f"'{c.strip()}', g.{c.strip()}" for c in _COLUMNS.split(","))
    + ") ORDER BY g.expires_at, g.id), '[]') FROM grants g WHERE g.user_id = u.id AND "
    + _in_force("g.", "NULL") + ") AS user_grants")


def grants_of_json(items: list[dict[str, Any]]) -> list[Grant]:
    """The grants of :data:`JOINED_GRANTS` (timestamps arrive as ISO text in JSON)."""
    return [Grant(**{**g, "starts_at": datetime.fromisoformat(g["starts_at"]),
                     "expires_at": datetime.fromisoformat(g["expires_at"])}) for g in items]


def create_grant(conn: Connection, *, user_id: int, granted_by: int, reason: str, expires_at: datetime,
                 starts_at: datetime | None = None, role: str | None = None, permission: str | None = None,
                 layer: str | None = None, module: str | None = None, district_code: str | None = None) -> Grant:
    if granted_by == user_id:
        raise Forbidden("nobody grants themselves", "不能给自己授权", code="self_administration")
    holder = conn.execute(text("SELECT active FROM users WHERE id = :id"), {"id": user_id}).first()
    if holder is None:
        raise NotFound(f"user {user_id} not found", f"用户 {user_id} 不存在")
    if not (role or permission):
        raise InvalidInput("role", "a role or a permission", "a grant needs a role or a permission",
                           "临时授权须指定角色或权限")
    if role is not None and role not in ROLES:
        raise InvalidInput("role", ", ".join(ROLES), value=role)
    if permission is not None and (len(permission) > 64 or not PERMISSION.match(permission)):
        raise InvalidInput("permission", "e.g. layer:read (lower case, colon-separated)", value=permission[:80])
    for name, value in (("layer", layer), ("module", module)):
        if value is not None and not re.match(r"^[a-z][a-z0-9_]{0,63}$", value):
            raise InvalidInput(name, "a registry id (lower case, digits, _)", value=value[:80])
    if district_code is not None and not conn.execute(
            text("SELECT 1 FROM districts WHERE code = :c"), {"c": district_code}).first():
        raise InvalidInput("district_code", "a district code of this city", value=district_code)
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("reason", "1–500 characters", "a grant needs a reason", "临时授权须填写事由")
    now = conn.execute(text("SELECT now()")).scalar_one()
    starts_at = starts_at or now
    if starts_at.tzinfo is None or expires_at.tzinfo is None:
        raise InvalidInput("expires_at", "a timestamp with a time zone (ISO 8601)")
    if not (expires_at > starts_at and expires_at > now):
        raise InvalidInput("expires_at", "after starts_at and in the future", value=expires_at.isoformat())
    if expires_at - starts_at > timedelta(days=MAX_GRANT_DAYS):
        raise InvalidInput("expires_at", f"at most {MAX_GRANT_DAYS} days after starts_at",
                           value=expires_at.isoformat())
    if role in SEPARATED_ROLES:
        held = conn.execute(text(
            "SELECT role FROM user_roles WHERE user_id = :u AND role = ANY(:sep) AND role <> :r "
            "UNION SELECT role FROM grants WHERE user_id = :u AND role = ANY(:sep) AND role <> :r "
            "AND revoked_at IS NULL AND expires_at > now()"),
            {"u": user_id, "sep": sorted(SEPARATED_ROLES), "r": role}).scalars().all()
        if held:
            raise Conflict("separation of duties: the user already holds " + ", ".join(held),
                           "三权分立：该用户已拥有 " + "、".join(ROLES[h]["zh-CN"] for h in held),
                           code="separation_of_duties")
    row = conn.execute(text(
        "INSERT INTO grants (user_id, role, permission, layer, module, district_code, starts_at, expires_at, "
        f"granted_by, reason) VALUES (:u, :r, :p, :l, :m, :d, :s, :e, :by, :why) RETURNING {_COLUMNS}"),
        {"u": user_id, "r": role, "p": permission, "l": layer, "m": module, "d": district_code, "s": starts_at,
         "e": expires_at, "by": granted_by, "why": reason}).one()
    return Grant(*row)


def revoke_grant(conn: Connection, grant_id: int, revoked_by: int) -> Grant:
    row = conn.execute(text(
        "UPDATE grants SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, :by) "
        f"WHERE id = :id RETURNING {_COLUMNS}"), {"id": grant_id, "by": revoked_by}).first()
    if row is None:
        raise NotFound(f"grant {grant_id} not found", f"临时授权 {grant_id} 不存在")
    return Grant(*row)


def list_grants(conn: Connection, include_past: bool = False) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT g.*, u.username, b.username AS granted_by_name, "
        "       (g.revoked_at IS NULL AND g.starts_at <= now() AND g.expires_at > now()) AS in_force "
        "FROM grants g JOIN users u ON u.id = g.user_id LEFT JOIN users b ON b.id = g.granted_by "
        "WHERE :past OR (g.revoked_at IS NULL AND g.expires_at > now()) ORDER BY g.expires_at DESC, g.id DESC"),
        {"past": include_past})
    return [dict(r._mapping) for r in rows]


def utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
