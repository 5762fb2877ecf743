"""The ``auth:`` configuration as one typed object, built once per application."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from access.authn.passwords import PasswordPolicy
from access.authn.totp_keys import TotpKeys
from core.config import ConfigError, public_url
from core.identity import ROLES


@dataclass(frozen=True)
class RateRule:
    name: str
    paths: tuple[str, ...]
    methods: frozenset[str] | None
    key: str  # ip | user
    requests: int
    per_seconds: float
    burst: int

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.paths)


@dataclass(frozen=True)
class AuthSettings:
    password: PasswordPolicy
    account_max_failures: int
    ip_max_failures: int
    failure_window: timedelta
    lock_duration: timedelta
    cookie_name: str
    idle_timeout: timedelta
    absolute_timeout: timedelta
    step_timeout: timedelta
    secure_cookies: bool
    totp_issuer: str
    totp_required_roles: frozenset[str]
    recovery_code_count: int
    token_default_days: int
    token_max_days: int
    audit_retention_days: int
    audit_archive_dir: str
    trusted_proxies: frozenset[str]
    rate_rules: tuple[RateRule, ...]
    totp_keys: TotpKeys
    purge_every: timedelta | None      # automatic purge from requests; None: `onemap user purge-sessions` only
    grant_retention: timedelta         # expired or revoked temporary grants are kept this long, then purged

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AuthSettings:
        auth = config["auth"]
        unknown = [r for r in auth["totp"]["required_roles"] if r not in ROLES]
        if unknown:
            raise ConfigError([f"auth.totp.required_roles: unknown role(s) {', '.join(unknown)}"])
        rules = tuple(
            RateRule(name, tuple(r["paths"]), frozenset(r["methods"]) if r["methods"] else None, r["key"],
                     r["requests"], float(r["per_seconds"]), r["burst"])
            for name, r in auth["rate_limits"].items())
        lock, sess, purge = auth["lockout"], auth["session"], auth["purge"]
        return cls(
            password=PasswordPolicy.from_config(auth),
            account_max_failures=lock["account_max_failures"], ip_max_failures=lock["ip_max_failures"],
            failure_window=timedelta(minutes=lock["window_minutes"]),
            lock_duration=timedelta(minutes=lock["lock_minutes"]),
            cookie_name=sess["cookie_name"], idle_timeout=timedelta(minutes=sess["idle_minutes"]),
            absolute_timeout=timedelta(hours=sess["absolute_hours"]),
            step_timeout=timedelta(minutes=sess["step_minutes"]),
            secure_cookies=public_url(dict(config)).startswith("https://"),
            totp_issuer=auth["totp"]["issuer"], totp_required_roles=frozenset(auth["totp"]["required_roles"]),
            recovery_code_count=auth["totp"]["recovery_codes"],
            token_default_days=auth["tokens"]["default_days"], token_max_days=auth["tokens"]["max_days"],
            audit_retention_days=auth["audit"]["retention_days"], audit_archive_dir=auth["audit"]["archive_dir"],
            trusted_proxies=frozenset(auth["trusted_proxies"]), rate_rules=rules,
            totp_keys=TotpKeys.from_config(config),
            purge_every=timedelta(minutes=purge["every_minutes"]) if purge["every_minutes"] else None,
            grant_retention=timedelta(days=purge["grant_retention_days"]),
        )

    def totp_required(self, roles: frozenset[str]) -> bool:
        return bool(roles & self.totp_required_roles)


def settings_of(app_config: Mapping[str, Any]) -> AuthSettings:
    """The AuthSettings of a Flask app (``app.config``), built on first use."""
    cached = app_config.get("ONEMAP_AUTH")
    if cached is None:
        raise RuntimeError("authentication is not initialised: access.init_app(app) was not called")
    return cached
