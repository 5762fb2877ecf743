"""Which case types are active: the files every active manifest names (``Manifest.case_types``), loaded once.

Cases are pinned to the version of their type they were opened under: :func:`pinned` returns the current
definition when the versions match, else rebuilds the old one from ``case_type_versions`` (where
:func:`record_versions` stores every version the engine has run).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from core.manifest import collect, load, resource
from supervision.cases.definitions import CaseType, build, load_files

_CONFIG: dict[str, Any] = {}


def configure(config: Mapping[str, Any]) -> None:
    """Remember the application's configuration (modules enabled) for the lookups below."""
    global _CONFIG
    _CONFIG = {"modules": dict(config.get("modules") or {})}


def _key() -> tuple[tuple[str, ...], tuple[str, ...]]:
    modules = _CONFIG.get("modules") or {}
    return tuple(modules.get("extra") or ()), tuple(modules.get("disabled") or ())


def case_types() -> dict[str, CaseType]:
    return _load(*_key())


@cache
def _load(extra: tuple[str, ...], disabled: tuple[str, ...]) -> dict[str, CaseType]:
    from layers.registry import default_registry

    config = {"modules": {"extra": list(extra), "disabled": list(disabled)}}
    paths = [resource(ref) for ref in collect(config, "case_types")]
    effects = [name for name, _ref in collect(config, "case_effects")]
    layers = {layer.id: layer for layer in default_registry()}
    return load_files(paths, layers=layers, effects=effects)


def effect_functions() -> dict[str, Callable[..., Any]]:
    return _effects(*_key())


@cache
def _effects(extra: tuple[str, ...], disabled: tuple[str, ...]) -> dict[str, Callable[..., Any]]:
    config = {"modules": {"extra": list(extra), "disabled": list(disabled)}}
    return {name: load(ref) for name, ref in collect(config, "case_effects")}


def get(case_type: object) -> CaseType:
    types = case_types()
    if not isinstance(case_type, str) or case_type not in types:
        raise InvalidInput("case_type", "one of " + ", ".join(sorted(types)), value=case_type)
    return types[case_type]


def record_versions(conn: Connection) -> None:
    """Store the definition of every active case type (once per version)."""
    for ct in case_types().values():
        conn.execute(text(
            "INSERT INTO case_type_versions (case_type, version, source, definition) "
            "VALUES (:t, :v, :s, CAST(:d AS jsonb)) ON CONFLICT DO NOTHING"),
            {"t": ct.id, "v": ct.version, "s": ct.source, "d": json.dumps(ct.document, ensure_ascii=False,
                                                                         default=str)})


_OLD: dict[tuple[str, str], CaseType] = {}


def pinned(conn: Connection, case_type: str, version: str) -> CaseType:
    """The definition a case runs under."""
    current = case_types().get(case_type)
    if current is not None and current.version == version:
        return current
    key = (case_type, version)
    if key not in _OLD:
        row = conn.execute(text("SELECT source, definition FROM case_type_versions "
                                "WHERE case_type = :t AND version = :v"), {"t": case_type, "v": version}).first()
        if row is None:
            raise RuntimeError(f"case type {case_type} version {version[:12]} is not stored")
        _OLD[key] = build(row.source, version, row.definition)
    return _OLD[key]


__all__ = ["case_types", "configure", "effect_functions", "get", "pinned", "record_versions"]
