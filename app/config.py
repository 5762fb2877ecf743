"""Configuration: packaged defaults, an optional YAML file (``ONEMAP_CONFIG``), environment overrides.

Validated in stages (YAML syntax → schema → references); ``onemap config check`` runs the same stages and
reports every problem it finds, one line each.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from app.errors import DomainError
from layers.yamlcheck import YamlProblem, read_yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_PATH = Path(__file__).with_name("default_config.yaml")

# environment variable → (config path, type)
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], type]] = {
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
}

_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["database", "server", "paths", "logging"],
    "properties": {
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


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the validated configuration or raise ConfigError listing every problem.

    Precedence: packaged defaults < ``ONEMAP_CONFIG`` file < environment < ``overrides`` (tests).
    """
    env = os.environ if environ is None else environ
    config = _read_yaml(DEFAULTS_PATH)
    if env.get("ONEMAP_CONFIG"):
        config = _merge(config, _read_yaml(Path(env["ONEMAP_CONFIG"])))
    from_env, problems = _env_overrides(env)
    config = _merge(config, from_env)
    if overrides:
        config = _merge(config, overrides)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for err in validator.iter_errors(config):
        where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        problems.append(f"{where}: {err.message}")
    if problems:
        raise ConfigError(problems)
    problems.extend(_check_references(config))
    if problems:
        raise ConfigError(problems)
    return config


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
    return problems


def public_url(config: dict[str, Any]) -> str:
    """The URL clients reach OneMap at (links in capabilities and OGC API documents)."""
    server = config["server"]
    return (server["public_url"] or f"http://{server['host']}:{server['port']}").rstrip("/")


def resolve_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path
