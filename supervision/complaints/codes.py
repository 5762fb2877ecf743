"""The reporter's private query code: random, shown once, stored only as a hash.

16 characters of Crockford's base32 alphabet (no I, L, O, U: nothing to misread when copied from a screen or read
over the phone) are 80 random bits from the operating system's CSPRNG (:mod:`secrets`), shown as four groups of four
(``7KQ2-M9XD-...``). With that much entropy a salted SHA-256 is enough (there is nothing to brute-force, unlike a
password), salted with the complaint number so two complaints' hashes cannot be compared.

A retried filing with the same ``Idempotency-Key`` must give the reporter the code they may never have seen (the
first answer was lost). The code is kept *sealed with the key*: XOR with an HMAC-SHA256 of the number keyed by the
Idempotency-Key, which is itself stored only as a hash. Only the holder of the key (the reporter's own browser) can
open it; the database alone cannot.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from core.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"   # Crockford base32
LENGTH = 16
_SEAL = b"onemap complaint query code|"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def shown(code: str) -> str:
    """``ABCDEFGH...`` -> ``ABCD-EFGH-...`` (how the reporter sees and types it)."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise(value: object) -> str | None:
    """The code as typed (any case, hyphens and spaces, Crockford's look-alikes) or None if it cannot be one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    code = value.upper().replace("-", "").replace(" ", "").translate(str.maketrans("ILO", "110"))
    return code if len(code) == LENGTH and all(c in ALPHABET for c in code) else None


def require(value: object, input_name: str = "X-Query-Code") -> str:
    """The code the reporter typed, or a 400 when it cannot be a code at all (not when it is wrong: that is 404)."""
    if value is None or value == "":
        raise InvalidInput(input_name, "the query code given when the complaint was filed (16 characters)",
                           "the query code is required", "请输入举报时获得的查询码", details={"reason": "required"})
    code = normalise(value)
    if code is None:
        raise InvalidInput(input_name, "16 characters of 0-9 and A-Z (hyphens allowed)",
                           "this is not a query code: 16 letters and digits, as shown when the complaint was filed",
                           "查询码格式不正确：应为举报时显示的16位字母和数字", details={"reason": "invalid"})
    return code


def digest(number: str, code: str) -> str:
    return hashlib.sha256(f"{number}\n{code}".encode()).hexdigest()


def matches(number: str, code: str, stored: str) -> bool:
    return hmac.compare_digest(digest(number, code), stored)


def key_hash(key: str) -> str:
    return hashlib.sha256(b"complaint idempotency key|" + key.encode()).hexdigest()


def _pad(key: str, number: str) -> bytes:
    return hmac.new(key.encode(), _SEAL + number.encode(), hashlib.sha256).digest()[:LENGTH]


def seal(code: str, key: str, number: str) -> str:
    return bytes(c ^ p for c, p in zip(code.encode("ascii"), _pad(key, number), strict=True)).hex()


def unseal(sealed: str, key: str, number: str) -> str:
    return bytes(c ^ p for c, p in zip(bytes.fromhex(sealed), _pad(key, number), strict=True)).decode("latin-1")


__all__ = ["ALPHABET", "LENGTH", "digest", "key_hash", "matches", "new_code", "normalise", "require", "seal",
           "shown", "unseal"]
