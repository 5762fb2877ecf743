"""Migrations freeze what they run: no revision imports application code.

A revision that imports ``app.…`` (or any module of this project) silently changes meaning when that code is
edited, so a database migrated last year and one migrated today would differ. A revision may import only Alembic,
SQLAlchemy, GeoAlchemy2 and the standard library; what it needs from a deployment at run time (the TOTP key ring)
is handed over by the runner (``layers.migrate``) through ``context.config.attributes``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from layers.migrate import VERSIONS_DIR

ALLOWED = {"alembic", "sqlalchemy", "geoalchemy2", "__future__"} | set(sys.stdlib_module_names)
REVISIONS = sorted(VERSIONS_DIR.glob("*.py"))


def foreign_imports(source: str) -> list[str]:
    """Every module a revision imports (at any depth, functions included) that is not allowed."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = ["." * node.level + (node.module or "")]
        else:
            continue
        found += [n for n in names if n.startswith(".") or n.split(".")[0] not in ALLOWED]
    # importlib/__import__ with a string would slip past the statements above
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                "import_module", "__import__"):
            found.append(ast.unparse(node))
    return found


def test_there_are_revisions_to_check() -> None:
    assert len(REVISIONS) >= 4  # 0001, 0002, a001, a002: the glob must not silently find nothing


@pytest.mark.parametrize("path", REVISIONS, ids=lambda p: p.name)
def test_revision_imports_no_application_code(path: Path) -> None:
    assert foreign_imports(path.read_text(encoding="utf-8")) == [], f"{path.name} imports application code"


@pytest.mark.parametrize(("source", "expected"), [
    ("from app.auth.audit_db import SCHEMA_SQL\n", ["app.auth.audit_db"]),
    ("def _keys():\n    from app.config import load_config\n", ["app.config"]),
    ("import layers.models, sqlalchemy as sa\n", ["layers.models"]),
    ("from . import helpers\n", ["."]),
    ("import importlib\nm = importlib.import_module('app.config')\n", ["importlib.import_module('app.config')"]),
    ("import sqlalchemy as sa\nfrom alembic import context, op\nfrom geoalchemy2 import Geometry\nimport json\n", []),
])
def test_the_check_finds_what_it_must(source: str, expected: list[str]) -> None:
    assert foreign_imports(source) == expected
