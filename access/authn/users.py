"""Accounts: users, their roles (三权分立), data-scope bindings and passwords. No Flask here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.authn import passwords
from access.authn.passwords import PasswordPolicy
from access.errors import Forbidden
from core.errors import Conflict, InvalidInput, NotFound
from core.identity import ROLES, SEPARATED_ROLES, Identity

USERNAME = re.compile(r"^[a-z0-9_.-]{3,64}$")
# Roles whose data scope is one district: they cannot exist without one.
DISTRICT_ROLES = frozenset({"district_regulator", "grid_worker"})

KEEP: Any = object()  # "leave as it is" for nullable fields, where None means "clear"

_COLUMNS = ("id, username, display_name, department_id, district_code, enterprise_uscc, organisation_id, "
            "password_hash, password_changed_at, must_change_password, totp_secret, active")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    department_id: int | None
    district_code: str | None
    enterprise_uscc: str | None
    organisation_id: int | None
    password_hash: str
    password_changed_at: datetime
    must_change_password: bool
    totp_secret: str | None
    active: bool
    roles: frozenset[str]

    @property
    def totp_enrolled(self) -> bool:
        return self.totp_secret is not None


def normalise_username(raw: str) -> str:
    return raw.strip().lower()


def _load(conn: Connection, where: str, params: dict[str, Any]) -> User | None:
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM users WHERE {where}"), params).first()
    if row is None:
        return None
    return User(*row, roles=roles_of(conn, row.id))


# The user of a row joined as ``u`` and their roles, selected in the statement that authenticates a request (a
# session or a token lookup): one round trip instead of three (see access.authn.principal).
JOINED_COLUMNS = ", ".join(f"u.{c.strip()} AS user_{c.strip()}" for c in _COLUMNS.split(",")) + \
    ", ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id) AS user_roles"


def user_of_row(row: Any) -> User:
    """The :class:`User` of a row selected with :data:`JOINED_COLUMNS`."""
    m = row._mapping
    return User(*(m[f"user_{c.strip()}"] for c in _COLUMNS.split(",")), roles=frozenset(m["user_roles"]))


def get_user(conn: Connection, user_id: int) -> User | None:
    return _load(conn, "id = :id", {"id": user_id})


def find_user(conn: Connection, username: str) -> User | None:
    return _load(conn, "username = :u", {"u": normalise_username(username)})


def roles_of(conn: Connection, user_id: int) -> frozenset[str]:
    return frozenset(conn.execute(text("SELECT role FROM user_roles WHERE user_id = :id"), {"id": user_id}).scalars())


def identity_of(user: User, method: str, token_scopes: frozenset[str] | None = None,
                **attributes: Any) -> Identity:
    return Identity(user_id=user.id, username=user.username, roles=user.roles, district_code=user.district_code,
                    enterprise_uscc=user.enterprise_uscc, method=method, token_scopes=token_scopes,
                    attributes={"display_name": user.display_name, "department_id": user.department_id,
                                "organisation_id": user.organisation_id, **attributes})


# -- validation --------------------------------------------------------------------------------------------
def check_roles(roles: Iterable[str]) -> frozenset[str]:
    roles = frozenset(roles)
    unknown = sorted(roles - set(ROLES))
    if unknown:
        raise InvalidInput("roles", ", ".join(ROLES), value=",".join(unknown))
    if len(roles & SEPARATED_ROLES) > 1:
        raise Conflict("separation of duties: one account may hold only one of system_admin, security_admin and "
                       "auditor", "三权分立：系统管理员、安全管理员、安全审计员不得由同一账号兼任",
                       code="separation_of_duties")
    return roles


def check_bindings(conn: Connection, roles: frozenset[str], district_code: str | None,
                   enterprise_uscc: str | None, organisation_id: int | None) -> None:
    """District codes and USCCs must name real rows (no foreign key: see access.models)."""
    if district_code is not None and not conn.execute(
            text("SELECT 1 FROM districts WHERE code = :c"), {"c": district_code}).first():
        raise InvalidInput("district_code", "a district code of this city (districts.code)", value=district_code)
    if enterprise_uscc is not None and not conn.execute(
            text("SELECT 1 FROM enterprises WHERE uscc = :u"), {"u": enterprise_uscc}).first():
        raise InvalidInput("enterprise_uscc", "the USCC of a registered enterprise", value=enterprise_uscc)
    if organisation_id is not None and not conn.execute(
            text("SELECT 1 FROM organisations WHERE id = :o"), {"o": organisation_id}).first():
        raise InvalidInput("organisation_id", "an intermediary organisation id", value=organisation_id)
    if "enterprise_user" in roles and enterprise_uscc is None:
        raise InvalidInput("enterprise_uscc", "required for enterprise_user", "an enterprise user must be bound "
                           "to one enterprise", "企业用户必须绑定一家企业")
    if "intermediary_user" in roles and organisation_id is None:
        raise InvalidInput("organisation_id", "required for intermediary_user", "an intermediary user must be "
                           "bound to one organisation", "中介机构用户必须绑定一家机构")
    if roles & DISTRICT_ROLES and district_code is None:
        raise InvalidInput("district_code", "required for district_regulator and grid_worker",
                           "district-level roles need a district", "区县级角色必须指定区县")
    if enterprise_uscc is not None and roles - {"enterprise_user", "public"}:
        raise Conflict("an account bound to an enterprise may hold only enterprise_user",
                       "绑定企业的账号只能拥有企业用户角色", code="binding_conflict")


# -- writes ------------------------------------------------------------------------------------------------
def create_user(conn: Connection, policy: PasswordPolicy, *, username: str, display_name: str, password: str,
                roles: Iterable[str], actor_id: int | None, district_code: str | None = None,
                enterprise_uscc: str | None = None, organisation_id: int | None = None,
                department_id: int | None = None, must_change_password: bool = True) -> int:
    """Create an account (by default the first sign-in must change the password an administrator chose)."""
    name = normalise_username(username)
    if not USERNAME.match(name):
        raise InvalidInput("username", "3–64 of a-z 0-9 _ . -", value=username[:80])
    if not display_name.strip() or len(display_name) > 100:
        raise InvalidInput("display_name", "1–100 characters")
    role_set = check_roles(roles)
    check_bindings(conn, role_set, district_code, enterprise_uscc, organisation_id)
    passwords.check_policy(policy, password, name)
    if find_user(conn, name) is not None:
        raise Conflict(f"user {name} exists", f"用户 {name} 已存在", code="user_exists")
    hashed = passwords.hash_password(policy, password)
    user_id = conn.execute(text(
        "INSERT INTO users (username, display_name, password_hash, district_code, enterprise_uscc, "
        "organisation_id, department_id, must_change_password) VALUES (:u, :d, :h, :dc, :eu, :o, :dep, :m) "
        "RETURNING id"), {"u": name, "d": display_name.strip(), "h": hashed, "dc": district_code,
                          "eu": enterprise_uscc, "o": organisation_id, "dep": department_id,
                          "m": must_change_password}).scalar_one()
    conn.execute(text("INSERT INTO password_history (user_id, password_hash) VALUES (:id, :h)"),
                 {"id": user_id, "h": hashed})
    _insert_roles(conn, user_id, role_set, actor_id)
    return user_id


def _insert_roles(conn: Connection, user_id: int, roles: frozenset[str], actor_id: int | None) -> None:
    if roles:
        conn.execute(text("INSERT INTO user_roles (user_id, role, granted_by) VALUES (:id, :r, :by)"),
                     [{"id": user_id, "r": r, "by": actor_id} for r in sorted(roles)])


def set_roles(conn: Connection, user_id: int, roles: Iterable[str], actor_id: int | None) -> frozenset[str]:
    user = get_user(conn, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", f"用户 {user_id} 不存在")
    if actor_id == user_id:
        raise Forbidden("nobody changes their own roles", "不能修改自己的角色", code="self_administration")
    role_set = check_roles(roles)
    check_bindings(conn, role_set, user.district_code, user.enterprise_uscc, user.organisation_id)
    conn.execute(text("DELETE FROM user_roles WHERE user_id = :id"), {"id": user_id})
    _insert_roles(conn, user_id, role_set, actor_id)
    return role_set


def update_user(conn: Connection, user_id: int, *, actor_id: int | None, display_name: str | None = None,
                district_code: str | None = KEEP, enterprise_uscc: str | None = KEEP,
                organisation_id: int | None = KEEP, department_id: int | None = KEEP,
                active: bool | None = None) -> User:
    """Change profile and data-scope fields; :data:`KEEP` (the default) leaves a nullable field as it is."""
    user = get_user(conn, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", f"用户 {user_id} 不存在")
    if actor_id == user_id and (active is False or district_code is not KEEP or enterprise_uscc is not KEEP):
        raise Forbidden("nobody changes their own data scope or disables themselves", "不能修改自己的数据范围或停用自己",
                        code="self_administration")
    new = {
        "display_name": display_name.strip() if display_name else user.display_name,
        "district_code": user.district_code if district_code is KEEP else district_code,
        "enterprise_uscc": user.enterprise_uscc if enterprise_uscc is KEEP else enterprise_uscc,
        "organisation_id": user.organisation_id if organisation_id is KEEP else organisation_id,
        "department_id": user.department_id if department_id is KEEP else department_id,
        "active": user.active if active is None else active,
    }
    check_bindings(conn, user.roles, new["district_code"], new["enterprise_uscc"], new["organisation_id"])
    conn.execute(text(
        "UPDATE users SET display_name = :display_name, district_code = :district_code, "
        "enterprise_uscc = :enterprise_uscc, organisation_id = :organisation_id, department_id = :department_id, "
        "active = :active WHERE id = :id"), {**new, "id": user_id})
    if not new["active"]:
        revoke_everything(conn, user_id)
    return get_user(conn, user_id)  # type: ignore[return-value]


def revoke_everything(conn: Connection, user_id: int) -> None:
    """A disabled account loses its sessions and tokens at once, not at their expiry."""
    conn.execute(text("DELETE FROM auth_sessions WHERE user_id = :id"), {"id": user_id})
    conn.execute(text("UPDATE api_tokens SET revoked_at = now() WHERE user_id = :id AND revoked_at IS NULL"),
                 {"id": user_id})


def set_password(conn: Connection, policy: PasswordPolicy, user: User, new_password: str, *,
                 by_admin: bool) -> None:
    """Policy, then history (last N), then store; an administrator's reset forces a change at next sign-in."""
    passwords.check_policy(policy, new_password, user.username)
    history = conn.execute(text(
        "SELECT password_hash FROM password_history WHERE user_id = :id ORDER BY changed_at DESC, id DESC "
        "LIMIT :n"), {"id": user.id, "n": max(policy.history, 1)}).scalars().all()
    if policy.history and passwords.reused(policy, new_password, history[: policy.history]):
        raise InvalidInput("password", policy.describe_en(), f"the password must differ from the last "
                           f"{policy.history}", f"新口令不得与最近 {policy.history} 次口令相同",
                           details={"reason": "reused"})
    hashed = passwords.hash_password(policy, new_password)
    conn.execute(text("UPDATE users SET password_hash = :h, password_changed_at = now(), "
                      "must_change_password = :m WHERE id = :id"), {"h": hashed, "m": by_admin, "id": user.id})
    conn.execute(text("INSERT INTO password_history (user_id, password_hash) VALUES (:id, :h)"),
                 {"id": user.id, "h": hashed})
    conn.execute(text(
        "DELETE FROM password_history WHERE user_id = :id AND id NOT IN (SELECT id FROM password_history "
        "WHERE user_id = :id ORDER BY changed_at DESC, id DESC LIMIT :keep)"),
        {"id": user.id, "keep": max(policy.history, 1)})
    if by_admin:
        revoke_everything(conn, user.id)


def reset_totp(conn: Connection, user_id: int) -> None:
    """Lost phone: the next sign-in enrols again. Sessions end now."""
    conn.execute(text("UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = NULL "
                      "WHERE id = :id"), {"id": user_id})
    conn.execute(text("DELETE FROM recovery_codes WHERE user_id = :id"), {"id": user_id})
    conn.execute(text("DELETE FROM auth_sessions WHERE user_id = :id"), {"id": user_id})


def list_users(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT u.id, u.username, u.display_name, u.district_code, u.enterprise_uscc, u.organisation_id, "
        "u.department_id, u.active, u.last_login_at, u.password_changed_at, u.totp_secret IS NOT NULL AS totp, "
        "coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS roles "
        "FROM users u LEFT JOIN user_roles r ON r.user_id = u.id GROUP BY u.id ORDER BY u.username"))
    return [dict(r._mapping) for r in rows]


def public_view(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "roles": sorted(user.roles), "district_code": user.district_code,
            "enterprise_uscc": user.enterprise_uscc, "organisation_id": user.organisation_id,
            "department_id": user.department_id, "active": user.active, "totp_enrolled": user.totp_enrolled}
