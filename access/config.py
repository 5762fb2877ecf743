"""The ``auth:`` configuration section: authentication, sessions, API tokens, audit (declared by access/manifest.py)."""

from __future__ import annotations

from typing import Any

from core.config import ConfigSection, ip_addresses, section_object

_POS_INT = {"type": "integer", "minimum": 1}
_RATE_LIMIT = section_object({
    "paths": {"type": "array", "items": {"type": "string", "pattern": "^/"}, "minItems": 1},
    "methods": {"type": ["array", "null"], "items": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]}},
    "key": {"enum": ["ip", "user"]},
    "requests": _POS_INT,
    "per_seconds": {"type": "number", "exclusiveMinimum": 0},
    "burst": _POS_INT,
})
# Authentication, sessions, API tokens, audit (access/); the numbers are 等保三级 minimums where one exists.
SCHEMA = section_object({
    "password": section_object({
        "min_length": {"type": "integer", "minimum": 8, "maximum": 128},
        "max_length": {"type": "integer", "minimum": 64, "maximum": 4096},
        "min_classes": {"type": "integer", "minimum": 1, "maximum": 4},
        "rotation_days": {"type": "integer", "minimum": 0, "maximum": 3650},
        "history": {"type": "integer", "minimum": 0, "maximum": 24},
        "argon2": section_object({"time_cost": {"type": "integer", "minimum": 1, "maximum": 20},
                        "memory_cost_kib": {"type": "integer", "minimum": 8192, "maximum": 4194304},
                        "parallelism": {"type": "integer", "minimum": 1, "maximum": 64}}),
    }),
    "lockout": section_object({"account_max_failures": _POS_INT, "ip_max_failures": _POS_INT,
                     "window_minutes": _POS_INT, "lock_minutes": _POS_INT}),
    "session": section_object({"cookie_name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                     "idle_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
                     "absolute_hours": {"type": "integer", "minimum": 1, "maximum": 168},
                     "step_minutes": {"type": "integer", "minimum": 1, "maximum": 60}}),
    "totp": section_object({"issuer": {"type": "string", "minLength": 1, "pattern": "^[^:]+$"},
                  "required_roles": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                  "recovery_codes": {"type": "integer", "minimum": 1, "maximum": 20},
                  "key_file": {"type": ["string", "null"], "minLength": 1},
                  "key_env": {"type": ["string", "null"], "pattern": "^[A-Z_][A-Z0-9_]*$"}}),
    "tokens": section_object({"default_days": _POS_INT, "max_days": {"type": "integer", "minimum": 1, "maximum": 3650}}),
    "audit": section_object({"retention_days": {"type": "integer", "minimum": 180},
                   "archive_dir": {"type": "string", "minLength": 1}}),
    "trusted_proxies": {"type": "array", "items": {"type": "string"}},
    "rate_limits": {"type": "object", "additionalProperties": _RATE_LIMIT},
    "purge": section_object({"every_minutes": {"type": "integer", "minimum": 0, "maximum": 1440},
                   "grant_retention_days": {"type": "integer", "minimum": 30}}),
})


def _check_totp_keys(config: dict[str, Any], source_of: Any) -> list[str]:
    from access.authn.totp_keys import check

    return check(config)


SECTION = ConfigSection(
    "auth", SCHEMA, defaults="access:defaults.yaml",
    env={"ONEMAP_TOTP_KEY_FILE": (("totp", "key_file"), str),
         "ONEMAP_TRUSTED_PROXIES": (("trusted_proxies",), ip_addresses)},
    checks=(_check_totp_keys,),
)
