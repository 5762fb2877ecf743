"""Guards of the import direction (ARCHITECTURE.md "Module anatomy"), read from the source with ``ast``.

kernel (core) ← access ← business modules (emergency, supervision) ← app (wiring); layers/styles are data with their
loaders; mapserver is the OGC package. Deferred imports inside functions count as much as module-level ones: a
circle hidden in a function body is still a circle.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.architecture import PACKAGES, Import, all_imports, module_cycles

IMPORTS = all_imports()
BUSINESS = ("emergency", "supervision")


def offenders(rule: callable) -> list[str]:  # type: ignore[valid-type]
    return sorted(f"{i.source}:{i.line} imports {i.target}" for i in IMPORTS if rule(i))


def test_the_reader_sees_imports_of_every_kind() -> None:
    """The guards below are only as good as the reader: it must see module-level, deferred and relative imports."""
    assert any(i.source == "app" and i.target.startswith("core.") for i in IMPORTS)
    assert any(i.in_function for i in IMPORTS)
    assert {i.source_package for i in IMPORTS} >= {"core", "access", "app", "emergency", "mapserver"}


def test_the_kernel_imports_no_other_package() -> None:
    assert offenders(lambda i: i.source_package == "core" and i.target_package != "core") == []


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "app"])
def test_nothing_outside_app_imports_app(package: str) -> None:
    """app/ is wiring (create_app, mounts, pages); modules, access, the OGC package and the kernel never reach in."""
    assert offenders(lambda i: i.source_package == package and i.target_package == "app") == []


def test_access_control_imports_only_the_kernel_and_the_layer_registry() -> None:
    """The gate learns what it needs about each OGC mount from the mount's adapter, not from mapserver code."""
    allowed = {"access", "core", "layers"}
    assert offenders(lambda i: i.source_package == "access" and i.target_package not in allowed) == []


@pytest.mark.parametrize("module", BUSINESS)
def test_business_modules_import_no_console_and_no_other_module(module: str) -> None:
    allowed = {module, "core", "access", "layers"}
    # a module offering OGC processes builds them with the shared processor toolkit, and nothing else of mapserver
    assert offenders(lambda i: i.source_package == module and i.target_package not in allowed
                     and not i.target.startswith("mapserver.processes.base")) == []


def test_the_ogc_package_does_not_import_business_modules() -> None:
    """Processes are declared by the modules' manifests and loaded by name; mapserver never imports them."""
    assert offenders(lambda i: i.source_package == "mapserver" and i.target_package in BUSINESS) == []


@pytest.mark.parametrize("package", ["layers", "styles"])
def test_the_registries_import_only_the_kernel_and_each_other(package: str) -> None:
    allowed = {"layers", "styles", "core"}
    assert offenders(lambda i: i.source_package == package and i.target_package not in allowed
                     and ".migrations." not in i.source) == []


def test_no_module_level_or_deferred_import_cycles() -> None:
    flattened = [replace(i, in_function=False) for i in IMPORTS]
    assert module_cycles(flattened) == []


def test_a_planted_violation_is_found(tmp_path: pytest.TempPathFactory) -> None:
    """The rules above fail on the kind of import they forbid (a guard that cannot fail guards nothing)."""
    planted = [Import("core.errors", "app.cli", True, 1), Import("app.cli", "core.errors", False, 2)]
    assert [i for i in planted if i.source_package == "core" and i.target_package != "core"]
    assert module_cycles([replace(i, in_function=False) for i in planted]) == [["app.cli", "core.errors"]]


def stale_imports() -> list[str]:
    """``from X import name`` statements anywhere in the project (deferred ones included) whose name X does not
    have: after a module moves, a deferred import fails only when its function first runs."""
    import ast
    import importlib
    import importlib.util

    from tests.architecture import _resolve, module_name, source_files

    stale = []
    for path in source_files():
        module = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            target = _resolve(module, node, path.name == "__init__.py")
            if target.split(".")[0] not in PACKAGES or ".migrations" in module:
                continue
            try:
                imported = importlib.import_module(target)
            except ImportError as exc:
                stale.append(f"{module}:{node.lineno}: {target} ({exc})")
                continue
            for alias in node.names:
                if alias.name != "*" and not hasattr(imported, alias.name) and \
                        importlib.util.find_spec(f"{target}.{alias.name}") is None:
                    stale.append(f"{module}:{node.lineno}: {target} has no {alias.name}")
    return stale


def test_every_import_names_something_that_exists() -> None:
    assert stale_imports() == []
