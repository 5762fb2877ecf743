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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from core.errors import DomainError
from core.yamlload import YamlProblem, read_yaml

# Where the packages live: the checkout in development, site-packages when installed from the wheel.
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
}

_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


def section_object(properties: dict[str, Any]) -> dict[str, Any]:
    """A closed JSON-schema object with every property required (the shape of most sections)."""
    return _obj(properties)


SourceOf = Callable[[tuple[Any, ...]], str]


@dataclass(frozen=True)
class ConfigSection:
    """A module's own top-level key of the configuration, declared by its manifest (``Manifest.config``).

    ``defaults`` names the packaged YAML file holding ``{name: {...}}``; ``env`` maps environment variables to a path
    inside the section and a type; ``checks`` run at stage 3 (after the schema) and return problem lines.
    """

    name: str
    schema: dict[str, Any]
    defaults: str | None = None
    env: Mapping[str, tuple[tuple[str, ...], Callable[[str], Any]]] = field(default_factory=dict)
    checks: tuple[Callable[[dict[str, Any], SourceOf], list[str]], ...] = ()

    def env_overrides(self) -> dict[str, tuple[tuple[str, ...], Callable[[str], Any]]]:
        return {var: ((self.name, *path), kind) for var, (path, kind) in self.env.items()}


SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["database", "server", "paths", "logging", "modules"],
    "properties": {
        "database": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url", "private_cluster", "backup"],
            "properties": {
                "url": {"type": ["string", "null"], "pattern": "^postgresql(\\+psycopg)?://"},
                "backup": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["dir", "archive", "archive_timeout_s", "keep_full", "files"],
                    "properties": {
                        "dir": {"type": "string", "minLength": 1, "pattern": "^[^'\"\\s]+$"},
                        "archive": {"type": "boolean"},
                        "archive_timeout_s": {"type": "integer", "minimum": 30, "maximum": 86400},
                        "keep_full": {"type": "integer", "minimum": 1, "maximum": 100},
                        "files": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    },
                },
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
        # Modules beyond the installed ones ("dotted.module:MANIFEST") and installed ones switched off (by name).
        "modules": _obj({
            "extra": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_][\\w.]*:[A-Za-z_][\\w.]*$"}},
            "disabled": {"type": "array", "items": {"type": "string"}},
        }),
        "logging": {
            "type": "object",
            "additionalProperties": False,
            "required": ["level", "format"],
            "properties": {
                "level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR"]},
                "format": {"enum": ["json", "text"]},
            },
        },
        # Live events (SSE): PostgreSQL LISTEN/NOTIFY or Redis pub/sub (every process's events reach every web worker),
        # or an in-process fan-out for a single process.
        "realtime": {
            "type": "object",
            "additionalProperties": False,
            "required": ["backend", "redis_url", "channel", "keepalive_s"],
            "properties": {
                "backend": {"enum": ["postgres", "redis", "memory"]},
                "redis_url": {"type": ["string", "null"], "pattern": "^(redis|rediss|unix)://"},
                "channel": {"type": "string", "minLength": 1},
                "keepalive_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
            },
            "if": {"properties": {"backend": {"const": "redis"}}},
            "then": {"properties": {"redis_url": {"type": "string"}}},
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


def _env_overrides(environ: Mapping[str, str], variables: Mapping[str, tuple[tuple[str, ...], Callable[[str], Any]]]
                   ) -> tuple[dict[str, Any], list[str]]:
    overrides: dict[str, Any] = {}
    problems = []
    for var, (path, kind) in variables.items():
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
    from_file: dict[str, Any] = {}
    if env.get("ONEMAP_CONFIG"):
        from_file = _read_yaml(Path(env["ONEMAP_CONFIG"]))
    # the modules (and so the sections) in play are known from the unvalidated merge; their defaults go below the file
    from core.manifest import resource

    sections = config_sections(_merge(_merge(config, from_file), overrides or {}))
    schema = copy.deepcopy(SCHEMA)
    variables = dict(ENV_OVERRIDES)
    for section in sections:
        schema["properties"][section.name] = section.schema
        schema["required"].append(section.name)
        variables.update(section.env_overrides())
        if section.defaults:
            path = resource(section.defaults)
            defaults = _read_yaml(path)
            sources.append((path.name, defaults))
            config = _merge(config, defaults)
    if env.get("ONEMAP_CONFIG"):
        sources.append((env["ONEMAP_CONFIG"], from_file))
        config = _merge(config, from_file)
    from_env, problems = _env_overrides(env, variables)
    sources += [(f"environment {var}", _nested(path, True)) for var, (path, _) in variables.items() if env.get(var)]
    config = _merge(config, from_env)
    if overrides:
        sources.append(("overrides", overrides))
        config = _merge(config, overrides)
    source_of = _source_finder(sources)
    validator = jsonschema.Draft202012Validator(schema)
    flagged = set()
    for err in validator.iter_errors(config):
        problems.append(_schema_problem(err, source_of))
        flagged.add(tuple(err.absolute_path))
    for path in _non_finite(config):
        if path not in flagged:
            problems.append(f"{source_of(path)}: {'.'.join(map(str, path))}: not a finite number")
    if problems:
        raise ConfigError(problems)
    for section in sections:
        for check in section.checks:
            problems.extend(check(config, source_of))
    problems.extend(_check_references(config))
    if problems:
        raise ConfigError(problems)
    return config


def config_sections(config: Mapping[str, Any]) -> list[ConfigSection]:
    """The sections the active modules declare (``Manifest.config``)."""
    from core.manifest import ManifestError, load, manifests

    try:
        active = manifests(config)
    except ManifestError as exc:
        raise ConfigError(exc.problems) from None
    return [load(m.config) for m in active if m.config]


def _check_references(config: dict[str, Any]) -> list[str]:
    """Stage 3: what the schema cannot see — writable paths, and each module's own checks (``config_checks``)."""
    from core.manifest import load, manifests

    problems = []
    var = resolve_path(config["paths"]["var"])
    parent = var if var.exists() else var.parent
    if not os.access(parent, os.W_OK):
        problems.append(f"paths.var: {var} is not writable")
    for manifest in manifests(config):
        for reference in manifest.config_checks:
            problems.extend(load(reference)(config))
    return problems


def public_url(config: dict[str, Any]) -> str:
    """The URL clients reach OneMap at (links in capabilities and OGC API documents)."""
    server = config["server"]
    return (server["public_url"] or f"http://{server['host']}:{server['port']}").rstrip("/")


def resolve_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base_dir() / path


def base_dir() -> Path:
    """What relative paths in the configuration (``var/``, ``paths.var``) are relative to: ``ONEMAP_HOME`` when set,
    else the checkout (a source tree), else the working directory (an installed wheel: never site-packages)."""
    home = os.environ.get("ONEMAP_HOME")
    if home:
        return Path(home).resolve()
    if (PROJECT_ROOT / "setup.cfg").is_file():
        return PROJECT_ROOT
    return Path.cwd()
