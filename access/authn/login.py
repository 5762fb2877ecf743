"""The sign-in state machine, shared by the page and the JSON API (no Flask here).

    password ──► [totp | enrol] ──► [password change] ──► full session

A correct password opens a short-lived *step* session (stage ``totp``, ``enrol`` or ``password``) that
authorises nothing but the next step; the last step replaces it by a ``full`` session under a new id. Every
failure — unknown user, wrong password, wrong or replayed TOTP code — counts towards the lock-out of the account
name as typed and of the client address, and every outcome is audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access import audit
from access.audit import AuditEvent
from access.authn import passwords, sessions, throttle, totp
from access.authn.sessions import Session
from access.authn.totp_keys import TotpKeyError, is_sealed
from access.authn.users import User, find_user, get_user, normalise_username
from access.settings import AuthSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str                 # ok | totp | enrol | password | invalid | invalid_code | locked | bad_input
    user: User | None = None
    cookie: str | None = None   # set this cookie value (a new session)
    session: Session | None = None
    retry_after: int = 0


def _audit(conn: Connection, action: str, outcome: str, user: User | None, username: str,
           **details: object) -> None:
    audit.record(AuditEvent(action, outcome, object_type="user", object_id=user.id if user else None,
                            user_id=user.id if user else None, username=username[:64], details=details), conn=conn)


def _fail(conn: Connection, settings: AuthSettings, username: str, ip: str, user: User | None,
          reason: str, action: str = "auth.login", status: str = "invalid") -> Outcome:
    locked = throttle.register_failure(conn, "account", username, settings.account_max_failures,
                                       settings.failure_window, settings.lock_duration)
    ip_locked = throttle.register_failure(conn, "ip", ip, settings.ip_max_failures, settings.failure_window,
                                          settings.lock_duration)
    _audit(conn, action, "failed", user, username, reason=reason, locked=bool(locked or ip_locked))
    if locked or ip_locked:
        return Outcome("locked", retry_after=max(locked, ip_locked))
    return Outcome(status)


def _locked(conn: Connection, username: str, ip: str) -> int:
    return max(throttle.locked_for(conn, "ip", ip), throttle.locked_for(conn, "account", username))


def next_stage(settings: AuthSettings, user: User, done: str) -> str:
    """The stage after ``done`` (password → totp/enrol → password change → full)."""
    order = ["password_ok", "second_factor", "password_change", "full"]
    for stage in order[order.index(done) + 1:]:
        if stage == "second_factor" and (user.totp_enrolled or settings.totp_required(user.roles)):
            return "totp" if user.totp_enrolled else "enrol"
        if stage == "password_change" and (user.must_change_password or passwords.expired(
                settings.password, user.password_changed_at, datetime.now(UTC))):
            return "password"
        if stage == "full":
            return "full"
    return "full"


def _enter(conn: Connection, settings: AuthSettings, user: User, stage: str, ip: str, user_agent: str | None,
           previous: Session | None) -> Outcome:
    if previous is not None:
        cookie, session = sessions.advance(conn, previous, stage, ip, user_agent)
    else:
        cookie, session = sessions.create(conn, user.id, stage, ip, user_agent)
    if stage == "full":
        throttle.clear(conn, "account", user.username)
        conn.execute(text("UPDATE users SET last_login_at = now() WHERE id = :id"), {"id": user.id})
        _audit(conn, "auth.login", "success", user, user.username, session=session.id_hash[:12])
        return Outcome("ok", user, cookie, session)
    _audit(conn, "auth.login_step", "success", user, user.username, next=stage)
    return Outcome(stage, user, cookie, session)


def sign_in(conn: Connection, settings: AuthSettings, username: str, password: str, ip: str,
            user_agent: str | None) -> Outcome:
    """Step 1: the password. Answers the same, in the same time, whether or not the account exists."""
    name = normalise_username(username)[:200]
    if passwords.too_long(settings.password, password) or len(username) > 200:
        _audit(conn, "auth.login", "failed", None, name, reason="oversized_input")
        return Outcome("bad_input")
    wait = _locked(conn, name, ip)
    if wait:
        _audit(conn, "auth.login", "denied", None, name, reason="locked")
        return Outcome("locked", retry_after=wait)
    user = find_user(conn, name) if len(name) <= 64 else None
    if user is None or not user.active:
        passwords.burn_time(settings.password, password)
        return _fail(conn, settings, name, ip, user, "unknown_user" if user is None else "inactive_user")
    if not passwords.verify(settings.password, user.password_hash, password):
        return _fail(conn, settings, name, ip, user, "wrong_password")
    if passwords.needs_rehash(settings.password, user.password_hash):
        conn.execute(text("UPDATE users SET password_hash = :h WHERE id = :id"),
                     {"h": passwords.hash_password(settings.password, password), "id": user.id})
        _audit(conn, "auth.password_rehash", "success", user, user.username)
    return _enter(conn, settings, user, next_stage(settings, user, "password_ok"), ip, user_agent, None)


def second_factor(conn: Connection, settings: AuthSettings, session: Session, ip: str, user_agent: str | None,
                  code: str | None = None, recovery_code: str | None = None) -> Outcome:
    """Step 2 for enrolled users: a TOTP code (each time-step accepted once) or a one-time recovery code."""
    user = get_user(conn, session.user_id)
    if user is None or session.stage != "totp" or not user.totp_secret:
        return Outcome("bad_input")
    wait = _locked(conn, user.username, ip)
    if wait:
        _audit(conn, "auth.totp", "denied", user, user.username, reason="locked")
        return Outcome("locked", retry_after=wait)
    if recovery_code:
        if not totp.use_recovery_code(conn, user.id, recovery_code):
            return _fail(conn, settings, user.username, ip, user, "wrong_recovery_code", "auth.totp", "invalid_code")
        _audit(conn, "auth.recovery_code_used", "success", user, user.username,
               left=totp.recovery_codes_left(conn, user.id))
    elif not code or not totp.verify_and_consume(conn, user.id, (secret := _open_secret(settings, user)), code[:20]):
        return _fail(conn, settings, user.username, ip, user, "wrong_or_reused_code", "auth.totp", "invalid_code")
    elif not is_sealed(user.totp_secret):
        # A secret stored before encryption (migration a002) or by the demo seeder: store it encrypted now.
        conn.execute(text("UPDATE users SET totp_secret = :s WHERE id = :id"),
                     {"s": settings.totp_keys.seal(secret), "id": user.id})
        _audit(conn, "auth.totp_secret_sealed", "success", user, user.username)
    return _enter(conn, settings, user, next_stage(settings, user, "second_factor"), ip, user_agent, session)


def _open_secret(settings: AuthSettings, user: User) -> str:
    """The user's base32 secret; a key problem is raised as a 503 (it is no failed attempt of the user's)."""
    try:
        return settings.totp_keys.open(user.totp_secret or "")
    except TotpKeyError as exc:
        # Audited by the caller once this transaction has rolled back (access.web.record_key_error).
        exc.user_id, exc.username = user.id, user.username
        log.error("TOTP sign-in of %s impossible: %s", user.username, exc.message_en)
        raise


def enrol(conn: Connection, settings: AuthSettings, session: Session, code: str, ip: str,
          user_agent: str | None) -> tuple[Outcome, list[str]]:
    """Step 2 for users who must enrol: confirm the pending secret with a code; returns the recovery codes."""
    user = get_user(conn, session.user_id)
    if user is None or session.stage not in ("enrol", "full") or (session.stage == "full" and user.totp_enrolled):
        return Outcome("bad_input"), []
    codes = totp.confirm_enrolment(conn, user.id, code[:20], settings.recovery_code_count, settings.totp_keys)
    if codes is None:
        return _fail(conn, settings, user.username, ip, user, "wrong_enrolment_code", "auth.totp_enrol",
                     "invalid_code"), []
    _audit(conn, "auth.totp_enrol", "success", user, user.username)
    user = get_user(conn, user.id)
    assert user is not None
    if session.stage == "full":
        return Outcome("ok", user, None, session), codes
    return _enter(conn, settings, user, next_stage(settings, user, "second_factor"), ip, user_agent, session), codes


def change_password(conn: Connection, settings: AuthSettings, session: Session, current: str, new: str, ip: str,
                    user_agent: str | None) -> Outcome:
    """The forced change (stage ``password``) or a voluntary one (full session). Raises InvalidInput on policy."""
    from access.authn.users import set_password

    user = get_user(conn, session.user_id)
    if user is None or session.stage not in ("password", "full"):
        return Outcome("bad_input")
    if passwords.too_long(settings.password, current) or not passwords.verify(
            settings.password, user.password_hash, current):
        return _fail(conn, settings, user.username, ip, user, "wrong_current_password", "auth.password_change")
    set_password(conn, settings.password, user, new, by_admin=False)
    sessions.end_all(conn, user.id, keep=session.id_hash)  # elsewhere signed-in browsers must sign in again
    _audit(conn, "auth.password_change", "success", user, user.username)
    if session.stage == "full":
        return Outcome("ok", user, None, session)
    return _enter(conn, settings, user, "full", ip, user_agent, session)


def sign_out(conn: Connection, session: Session) -> None:
    sessions.end(conn, session.id_hash)
    user = get_user(conn, session.user_id)
    _audit(conn, "auth.logout", "success", user, user.username if user else "")
