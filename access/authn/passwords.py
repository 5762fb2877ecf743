"""Passwords: argon2id hashes (argon2-cffi), the configurable policy, history and rotation."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import InvalidInput


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    max_length: int = 256
    min_classes: int = 3
    rotation_days: int = 90
    history: int = 5
    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4

    @classmethod
    def from_config(cls, auth: Mapping[str, Any]) -> PasswordPolicy:
        p = auth["password"]
        return cls(p["min_length"], p["max_length"], p["min_classes"], p["rotation_days"], p["history"],
                   p["argon2"]["time_cost"], p["argon2"]["memory_cost_kib"], p["argon2"]["parallelism"])

    def hasher(self) -> PasswordHasher:
        return _hasher(self.time_cost, self.memory_cost_kib, self.parallelism)

    def describe_zh(self) -> str:
        return (f"口令长度 {self.min_length}–{self.max_length} 个字符，至少包含大写字母、小写字母、数字、其他字符中的 "
                f"{self.min_classes} 类，不得包含用户名，不得与最近 {self.history} 次口令相同")

    def describe_en(self) -> str:
        return (f"{self.min_length}–{self.max_length} characters, at least {self.min_classes} of: upper case, "
                f"lower case, digits, other characters; must not contain the user name or repeat any of the last "
                f"{self.history} passwords")


@cache
def _hasher(time_cost: int, memory_cost_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism,
                          hash_len=32, salt_len=16, type=Type.ID)


def normalise(password: str) -> str:
    # NFC: the same password typed on a phone and on a desktop IME must hash the same.
    return unicodedata.normalize("NFC", password)


def too_long(policy: PasswordPolicy, password: str) -> bool:
    """Checked before any hashing: a huge input must cost us nothing."""
    return len(password) > policy.max_length


def character_classes(password: str) -> int:
    classes = [any(c.islower() for c in password), any(c.isupper() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    return sum(classes)


def check_policy(policy: PasswordPolicy, password: str, username: str) -> None:
    """Raise InvalidInput naming the rule the new password breaks (history is checked by the caller)."""
    allowed = policy.describe_en()
    if len(password) < policy.min_length or too_long(policy, password):
        raise InvalidInput("password", allowed, f"the password must have {policy.min_length}–"
                           f"{policy.max_length} characters", f"口令长度须为 {policy.min_length}–{policy.max_length} 个字符",
                           details={"reason": "length"})
    if character_classes(password) < policy.min_classes:
        raise InvalidInput("password", allowed, f"the password must mix at least {policy.min_classes} character "
                           "classes", f"口令须至少包含 {policy.min_classes} 类字符", details={"reason": "complexity"})
    if len(username) >= 3 and username.lower() in password.lower():
        raise InvalidInput("password", allowed, "the password must not contain the user name",
                           "口令不得包含用户名", details={"reason": "contains_username"})


def hash_password(policy: PasswordPolicy, password: str) -> str:
    return policy.hasher().hash(normalise(password))


def verify(policy: PasswordPolicy, stored_hash: str, password: str) -> bool:
    try:
        return policy.hasher().verify(stored_hash, normalise(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(policy: PasswordPolicy, stored_hash: str) -> bool:
    try:
        return policy.hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@cache
def dummy_hash(time_cost: int, memory_cost_kib: int, parallelism: int) -> str:
    """A hash of nothing anyone knows, verified when the user does not exist so both answers take as long."""
    import secrets

    return _hasher(time_cost, memory_cost_kib, parallelism).hash(secrets.token_urlsafe(24))


def burn_time(policy: PasswordPolicy, password: str) -> None:
    verify(policy, dummy_hash(policy.time_cost, policy.memory_cost_kib, policy.parallelism), password)


def reused(policy: PasswordPolicy, password: str, previous_hashes: Iterable[str]) -> bool:
    return any(verify(policy, h, password) for h in previous_hashes)


def expired(policy: PasswordPolicy, changed_at: datetime, now: datetime) -> bool:
    return policy.rotation_days > 0 and now - changed_at > timedelta(days=policy.rotation_days)
