"""Configuration: packaged defaults, an optional YAML file (``ONEMAP_CONFIG``), environment overrides.

Validated in stages (YAML syntax → schema → references); ``onemap config check`` runs the same stages and
reports every problem it finds, one line each, naming where the bad value came from (the packaged defaults, the
``ONEMAP_CONFIG`` file, an environment variable or the caller's overrides) and the field.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from core.errors import DomainError
from core.yamlload import YamlProblem, read_yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_PATH = Path(__file__).with_name("default_config.yaml")

def ip_addresses(raw: str) -> list[str]:
    """A comma-separated list of IP addresses (``ONEMAP_TRUSTED_PROXIES``); ValueError names a bad one."""
    items = [a.strip() for a in raw.split(",") if a.strip()]
    for item in items:
        ipaddress.ip_address(item)
    return items


# environment variable → (config path, type)
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "DATABASE_URL": (("database", "url"), str),
    "ONEMAP_PG_PORT": (("database", "private_cluster", "port"), int),
    "ONEMAP_PG_DIR": (("database", "private_cluster", "dir"), str),
    "HOST": (("server", "host"), str),
    "PORT": (("server", "port"), int),
    "ONEMAP_PUBLIC_URL": (("server", "public_url"), str),
    "ONEMAP_WORKERS": (("server", "workers"), int),
    "ONEMAP_VAR": (("paths", "var"), str),
    "ONEMAP_LOG_LEVEL": (("logging", "level"), str),
    "ONEMAP_LOG_FORMAT": (("logging", "format"), str),
    "ONEMAP_REALTIME_BACKEND": (("realtime", "backend"), str),
    "ONEMAP_REDIS_URL": (("realtime", "redis_url"), str),
    "ONEMAP_SNAP_LIMIT_M": (("emergency", "snap_limit_m"), float),
    "ONEMAP_TOTP_KEY_FILE": (("auth", "totp", "key_file"), str),
    "ONEMAP_TRUSTED_PROXIES": (("auth", "trusted_proxies"), ip_addresses),
}

_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


_POS_INT = {"type": "integer", "minimum": 1}
_RATE_LIMIT = _obj({
    "paths": {"type": "array", "items": {"type": "string", "pattern": "^/"}, "minItems": 1},
    "methods": {"type": ["array", "null"], "items": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]}},
    "key": {"enum": ["ip", "user"]},
    "requests": _POS_INT,
    "per_seconds": {"type": "number", "exclusiveMinimum": 0},
    "burst": _POS_INT,
})
# Authentication, sessions, API tokens, audit (app/auth); the numbers are 等保三级 minimums where one exists.
_AUTH = _obj({
    "password": _obj({
        "min_length": {"type": "integer", "minimum": 8, "maximum": 128},
        "max_length": {"type": "integer", "minimum": 64, "maximum": 4096},
        "min_classes": {"type": "integer", "minimum": 1, "maximum": 4},
        "rotation_days": {"type": "integer", "minimum": 0, "maximum": 3650},
        "history": {"type": "integer", "minimum": 0, "maximum": 24},
        "argon2": _obj({"time_cost": {"type": "integer", "minimum": 1, "maximum": 20},
                        "memory_cost_kib": {"type": "integer", "minimum": 8192, "maximum": 4194304},
                        "parallelism": {"type": "integer", "minimum": 1, "maximum": 64}}),
    }),
    "lockout": _obj({"account_max_failures": _POS_INT, "ip_max_failures": _POS_INT,
                     "window_minutes": _POS_INT, "lock_minutes": _POS_INT}),
    "session": _obj({"cookie_name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                     "idle_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
                     "absolute_hours": {"type": "integer", "minimum": 1, "maximum": 168},
                     "step_minutes": {"type": "integer", "minimum": 1, "maximum": 60}}),
    "totp": _obj({"issuer": {"type": "string", "minLength": 1, "pattern": "^[^:]+$"},
                  "required_roles": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                  "recovery_codes": {"type": "integer", "minimum": 1, "maximum": 20},
                  "key_file": {"type": ["string", "null"], "minLength": 1},
                  "key_env": {"type": ["string", "null"], "pattern": "^[A-Z_][A-Z0-9_]*$"}}),
    "tokens": _obj({"default_days": _POS_INT, "max_days": {"type": "integer", "minimum": 1, "maximum": 3650}}),
    "audit": _obj({"retention_days": {"type": "integer", "minimum": 180},
                   "archive_dir": {"type": "string", "minLength": 1}}),
    "trusted_proxies": {"type": "array", "items": {"type": "string"}},
    "rate_limits": {"type": "object", "additionalProperties": _RATE_LIMIT},
    "purge": _obj({"every_minutes": {"type": "integer", "minimum": 0, "maximum": 1440},
                   "grant_retention_days": {"type": "integer", "minimum": 30}}),
})
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["database", "server", "paths", "logging"],
    "properties": {
        "auth": _AUTH,
        "database": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url", "private_cluster"],
            "properties": {
                "url": {"type": ["string", "null"], "pattern": "^postgresql(\\+psycopg)?://"},
                "private_cluster": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["dir", "port", "name"],
                    "properties": {
                        "dir": {"type": "string", "minLength": 1},
                        "port": _PORT,
                        "name": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"},
                    },
                },
            },
        },
        "server": {
            "type": "object",
            "additionalProperties": False,
            "required": ["host", "port", "workers", "threads", "public_url"],
            "properties": {
                "host": {"type": "string", "minLength": 1},
                "public_url": {"type": ["string", "null"], "pattern": "^https?://[^/]+(/.*)?$"},
                "port": _PORT,
                "workers": {"type": "integer", "minimum": 1, "maximum": 64},
                "threads": {"type": "integer", "minimum": 1, "maximum": 64},
            },
        },
        "paths": {
            "type": "object",
            "additionalProperties": False,
            "required": ["var"],
            "properties": {"var": {"type": "string", "minLength": 1}},
        },
        "logging": {
            "type": "object",
            "additionalProperties": False,
            "required": ["level", "format"],
            "properties": {
                "level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR"]},
                "format": {"enum": ["json", "text"]},
            },
        },
        # Live events (SSE): in-process fan-out, or Redis pub/sub so that every gunicorn worker sees every event.
        "realtime": {
            "type": "object",
            "additionalProperties": False,
            "required": ["backend", "redis_url", "channel", "keepalive_s"],
            "properties": {
                "backend": {"enum": ["memory", "redis"]},
                "redis_url": {"type": ["string", "null"], "pattern": "^(redis|rediss|unix)://"},
                "channel": {"type": "string", "minLength": 1},
                "keepalive_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
            },
            "if": {"properties": {"backend": {"const": "redis"}}},
            "then": {"properties": {"redis_url": {"type": "string"}}},
        },
        # Emergency dispatch: how far (metres) a point may lie from the road network and still be routed.
        "emergency": _obj({
            "snap_limit_m": {"type": "number", "minimum": 1, "maximum": 50_000},
            "max_snap_limit_m": {"type": "number", "minimum": 1, "maximum": 50_000},
        }),
    },
}


class ConfigError(DomainError):
    http_status = 500
    code = "config_error"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration: " + "; ".join(problems), "配置无效：" + "；".join(problems))


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = read_yaml(path)
    except YamlProblem as exc:
        raise ConfigError([str(exc)]) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    return doc


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    overrides: dict[str, Any] = {}
    problems = []
    for var, (path, kind) in ENV_OVERRIDES.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            value: Any = kind(raw)
        except ValueError:
            problems.append(f"environment {var}={raw!r}: expected {kind.__name__}")
            continue
        node = overrides
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return overrides, problems


def _has(doc: Any, path: tuple[Any, ...]) -> bool:
    for key in path:
        if not isinstance(doc, Mapping) or key not in doc:
            return False
        doc = doc[key]
    return True


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value


SourceOf = Callable[[tuple[Any, ...]], str]


def _source_finder(sources: list[tuple[str, Any]]) -> SourceOf:
    """``path → label`` of the last source (defaults < file < environment < overrides) that sets ``path``."""
    def source_of(path: tuple[Any, ...]) -> str:
        return next((label for label, doc in reversed(sources) if _has(doc, path)), sources[0][0])

    return source_of


def _schema_problem(err: jsonschema.ValidationError, source_of: SourceOf) -> str:
    path = tuple(err.absolute_path)
    where = ".".join(str(p) for p in path) or "<top level>"
    probe = path
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        # the unexpected key is what to blame, not the section that holds it
        extra = [k for k in err.instance if k not in (err.schema.get("properties") or {})]
        probe = (*path, extra[0]) if extra else path
    return f"{source_of(probe)}: {where}: {err.message}"


def _non_finite(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of NaN/infinite numbers (``.nan`` in YAML): JSON schema bounds let them through."""
    if isinstance(node, float):
        return [] if math.isfinite(node) else [path]
    if isinstance(node, Mapping):
        return [p for k, v in node.items() for p in _non_finite(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _non_finite(v, (*path, i))]
    return []


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the validated configuration or raise ConfigError listing every problem.

    Precedence: packaged defaults < ``ONEMAP_CONFIG`` file < environment < ``overrides`` (tests). Each problem
    reads ``<source>: <field>: <what is wrong>``, the source being the file or environment variable that set it.
    """
    env = os.environ if environ is None else environ
    config = _read_yaml(DEFAULTS_PATH)
    sources: list[tuple[str, Any]] = [(DEFAULTS_PATH.name, config)]
    if env.get("ONEMAP_CONFIG"):
        from_file = _read_yaml(Path(env["ONEMAP_CONFIG"]))
        sources.append((env["ONEMAP_CONFIG"], from_file))
        config = _merge(config, from_file)
    from_env, problems = _env_overrides(env)
    sources += [(f"environment {var}", _nested(path, True)) for var, (path, _) in ENV_OVERRIDES.items()
                if env.get(var)]
    config = _merge(config, from_env)
    if overrides:
        sources.append(("overrides", overrides))
        config = _merge(config, overrides)
    source_of = _source_finder(sources)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    flagged = set()
    for err in validator.iter_errors(config):
        problems.append(_schema_problem(err, source_of))
        flagged.add(tuple(err.absolute_path))
    for path in _non_finite(config):
        if path not in flagged:
            problems.append(f"{source_of(path)}: {'.'.join(map(str, path))}: not a finite number")
    if problems:
        raise ConfigError(problems)
    problems.extend(_check_emergency(config, source_of))
    problems.extend(_check_references(config))
    if problems:
        raise ConfigError(problems)
    return config


def _check_emergency(config: dict[str, Any], source_of: SourceOf) -> list[str]:
    """Stage 3 for the emergency section: the default snap limit must be one a caller may ask for."""
    conf = config.get("emergency")
    if conf is None or conf["snap_limit_m"] <= conf["max_snap_limit_m"]:
        return []
    path = ("emergency", "snap_limit_m")
    return [f"{source_of(path)}: emergency.snap_limit_m: {conf['snap_limit_m']:g} is greater than "
            f"emergency.max_snap_limit_m ({conf['max_snap_limit_m']:g})"]


def _check_references(config: dict[str, Any]) -> list[str]:
    """Stage 3: what the schema cannot see — the layer registry and writable paths."""
    from layers.registry import RegistryError, default_registry

    problems = []
    try:
        default_registry()
    except RegistryError as exc:
        problems.extend(f"layer registry: {p}" for p in exc.problems)
    var = resolve_path(config["paths"]["var"])
    parent = var if var.exists() else var.parent
    if not os.access(parent, os.W_OK):
        problems.append(f"paths.var: {var} is not writable")
    if "auth" in config:
        from access.authn.totp_keys import check as check_totp_keys

        problems.extend(check_totp_keys(config))
    return problems


def public_url(config: dict[str, Any]) -> str:
    """The URL clients reach OneMap at (links in capabilities and OGC API documents)."""
    server = config["server"]
    return (server["public_url"] or f"http://{server['host']}:{server['port']}").rstrip("/")


def resolve_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path
