"""Access control knows no OGC software: nothing under access/ imports MapServer, MapProxy, pygeoapi or OWSLib code.

What the gate needs about a mount comes from the adapter the mount registers (access/policy/mounts.py,
mapserver/gate/); an import of the OGC stack from access/ — at module level, inside a function, or through
importlib — is the coupling that design removed, and fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("mapserver", "mapproxy", "pygeoapi", "owslib")


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """``line: module`` for every import of a FORBIDDEN package in ``source`` (statements and importlib calls)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) in ("import_module", "__import__"))):
            names = [node.args[0].value]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name.split(".")[0] in FORBIDDEN]
    return found


ACCESS_FILES = sorted((ROOT / "access").rglob("*.py"))


def test_the_access_package_is_there_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in ACCESS_FILES}
    assert {"access/policy/gate.py", "access/policy/classify.py", "access/authn/middleware.py"} <= names


@pytest.mark.parametrize("path", ACCESS_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_access_imports_no_ogc_software(path: Path) -> None:
    where = path.relative_to(ROOT).as_posix()
    found = forbidden_imports(path.read_text(encoding="utf-8"), str(path))
    assert found == [], f"{where} imports the OGC stack; what the gate needs comes from the mount's adapter " \
                        "(access/policy/mounts.py, mapserver/gate/)"


@pytest.mark.parametrize("source", [
    "import mapserver.owscheck", "from mapserver.mapfile import scope_params", "import mapproxy",
    "def f():\n    from pygeoapi.api import API", "from owslib.wms import WebMapService",
    "import importlib\nimportlib.import_module('mapserver.gate')", "__import__('mapproxy.config')",
])
def test_the_check_sees_every_form_of_import(source: str) -> None:
    assert forbidden_imports(source) != []


def test_the_check_lets_the_kernel_and_relative_imports_pass() -> None:
    assert forbidden_imports("from core.errors import DomainError\nfrom . import mapserver_like\n"
                             "import access.policy.mounts\nx = 'mapserver'") == []
