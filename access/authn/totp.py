"""TOTP second factor (RFC 6238 via pyotp): enrolment with an inline QR code (segno SVG), replay protection,
and one-time recovery codes stored as sha256 hashes. Secrets are stored encrypted (:mod:`access.authn.totp_keys`)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.authn.totp_keys import TotpKeyError, TotpKeys, is_sealed

log = logging.getLogger(__name__)

STEP_SECONDS = 30
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read off paper


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, the RFC 4226 recommendation


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """An inline SVG (no external service ever sees the secret)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#1d2733", light="#ffffff")


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace())


def matching_step(secret: str, code: str, now: float | None = None, window: int = 1) -> int | None:
    """The time-step whose code equals ``code`` within ±``window`` steps (clock drift), or None."""
    code = normalise_code(code)
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    found = None
    for step in range(current - window, current + window + 1):
        # Compare every candidate: the loop takes as long whichever step matches.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def verify_and_consume(conn: Connection, user_id: int, secret: str, code: str) -> bool:
    """Accept ``code`` once: the matched step must be newer than the last one used by this user.

    The compare-and-set is one UPDATE, so two requests racing with the same code cannot both win.
    """
    step = matching_step(secret, code)
    if step is None:
        return False
    won = conn.execute(text(
        "UPDATE users SET totp_last_step = :step WHERE id = :id "
        "AND (totp_last_step IS NULL OR totp_last_step < :step) RETURNING id"), {"step": step, "id": user_id})
    return won.first() is not None


# -- recovery codes -----------------------------------------------------------------------------------------
def _hash_code(code: str) -> str:
    canonical = normalise_code(code).replace("-", "").upper()
    return hashlib.sha256(canonical.encode("ascii", "replace")).hexdigest()


def new_recovery_codes(conn: Connection, user_id: int, count: int) -> list[str]:
    """Replace the user's recovery codes; return the new ones (shown once, never stored in clear)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))  # 80 bits
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    conn.execute(text("DELETE FROM recovery_codes WHERE user_id = :id"), {"id": user_id})
    conn.execute(text("INSERT INTO recovery_codes (user_id, code_hash) VALUES (:id, :h)"),
                 [{"id": user_id, "h": _hash_code(c)} for c in codes])
    return codes


def use_recovery_code(conn: Connection, user_id: int, code: str) -> bool:
    if len(code) > 40:
        return False
    used = conn.execute(text(
        "UPDATE recovery_codes SET used_at = now() WHERE user_id = :id AND code_hash = :h AND used_at IS NULL "
        "RETURNING id"), {"id": user_id, "h": _hash_code(code)})
    return used.first() is not None


def recovery_codes_left(conn: Connection, user_id: int) -> int:
    return conn.execute(text("SELECT count(*) FROM recovery_codes WHERE user_id = :id AND used_at IS NULL"),
                        {"id": user_id}).scalar_one()


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    svg: str


def _app_keys() -> TotpKeys:
    """The key ring of the current Flask app, for callers that do not pass one."""
    from flask import current_app

    return current_app.config["ONEMAP_AUTH"].totp_keys


def start_enrolment(conn: Connection, user_id: int, username: str, issuer: str,
                    keys: TotpKeys | None = None) -> Enrolment:
    """A pending secret (kept until confirmed with a valid code, so a half-done enrolment locks no one out)."""
    keys = keys or _app_keys()
    stored = conn.execute(text("SELECT totp_pending_secret FROM users WHERE id = :id"),
                          {"id": user_id}).scalar_one()
    secret = None
    if stored:
        try:
            secret = keys.open(stored)
        except TotpKeyError:  # sealed under a key that is gone: nothing was confirmed with it, start again
            log.warning("pending TOTP secret of user %s cannot be decrypted; issuing a new one", user_id)
    if secret is None or not is_sealed(stored):
        secret = secret or new_secret()
        conn.execute(text("UPDATE users SET totp_pending_secret = :s WHERE id = :id"),
                     {"s": keys.seal(secret), "id": user_id})
    uri = provisioning_uri(secret, username, issuer)
    return Enrolment(secret, uri, qr_svg(uri))


def confirm_enrolment(conn: Connection, user_id: int, code: str, recovery_count: int,
                      keys: TotpKeys | None = None) -> list[str] | None:
    """Activate the pending secret when ``code`` matches it; return fresh recovery codes (None: wrong code)."""
    keys = keys or _app_keys()
    pending = conn.execute(text("SELECT totp_pending_secret FROM users WHERE id = :id FOR UPDATE"),
                           {"id": user_id}).scalar_one()
    step = matching_step(keys.open(pending), code) if pending else None
    if step is None:
        return None
    sealed = pending if is_sealed(pending) else keys.seal(keys.open(pending))
    conn.execute(text("UPDATE users SET totp_secret = :s, totp_pending_secret = NULL, "
                      "totp_last_step = :step WHERE id = :id"), {"s": sealed, "step": step, "id": user_id})
    return new_recovery_codes(conn, user_id, recovery_count)


def reseal_all(conn: Connection, keys: TotpKeys) -> dict[str, int]:
    """Store every TOTP secret encrypted under the newest key: tokens of older keys are re-encrypted, secrets
    found in clear (written before migration a002, or by the demo seeder) are encrypted. Returns the counts."""
    counts = {"reencrypted": 0, "encrypted_clear": 0}
    for column in ("totp_secret", "totp_pending_secret"):
        rows = conn.execute(text(f"SELECT id, {column} AS value FROM users WHERE {column} IS NOT NULL "
                                 "ORDER BY id FOR UPDATE")).all()
        for row in rows:
            counts["reencrypted" if is_sealed(row.value) else "encrypted_clear"] += 1
            conn.execute(text(f"UPDATE users SET {column} = :v WHERE id = :id"),
                         {"v": keys.reseal(row.value), "id": row.id})
    return counts
