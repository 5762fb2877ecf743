"""The first two validation stages shared by every YAML registry (layers, styles, configuration, policy):
YAML syntax, then a JSON schema — each problem one line naming the file, the line or the field."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # LibYAML when PyYAML has it: the same documents, ~8x faster


def parse(text: str) -> Any:
    """``yaml.safe_load`` through LibYAML when available. Every app start parses the generated pygeoapi
    configuration and OpenAPI documents (MBs of YAML): the pure-Python loader took most of ``create_app``."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any) -> str:
    """``yaml.safe_dump`` (Unicode kept, keys in their order) through LibYAML when available: the generated
    configuration files are rewritten whenever their inputs change (every test database has its own)."""
    return yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False)


class YamlProblem(Exception):
    """The file could not be read or parsed; ``str()`` is the one-line problem."""


def read_yaml(path: Path) -> Any:
    """Parse ``path`` or raise YamlProblem naming the file, line and column."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise YamlProblem(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise YamlProblem(f"{path.name}:{where}: YAML syntax error: {getattr(exc, 'problem', exc)}") from None


@cache
def load_schema(path: Path) -> dict[str, Any]:
    return parse(path.read_text(encoding="utf-8"))


def path_of(error: jsonschema.ValidationError, doc: Any) -> str:
    """``fields[3](name=risk_colour).type`` — list items are named by their ``name`` where they have one."""
    parts: list[str] = []
    node: Any = doc
    for step in error.absolute_path:
        parts.append(f"[{step}]" if isinstance(step, int) else ("." if parts else "") + str(step))
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(step, int) and isinstance(node, dict) and "name" in node:
            parts.append(f"(name={node['name']})")
    return "".join(parts) or "<top level>"


def schema_problems(path: Path, doc: Any, schema: dict[str, Any]) -> list[str]:
    """Every schema violation in ``doc`` as ``<file>: <field path>: <message>``, in document order."""
    if not isinstance(doc, dict):
        return [f"{path.name}: expected a mapping at the top level, got {type(doc).__name__}"]
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{path.name}: {path_of(err, doc)}: {err.message}"
            for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
