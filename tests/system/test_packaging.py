"""The wheel is the product: built with ``pip wheel .``, installed into a throwaway virtualenv, every module imports
from it and every data file the app reads at run time is inside it (the Dockerfile installs this wheel)."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Files the application opens at run time, relative to site-packages: one per kind, and each glob non-empty.
DATA_FILES = [
    "core/default_config.yaml",
    "access/defaults.yaml",
    "access/policy/policy.yaml",
    "emergency/defaults.yaml",
    "emergency/policy.yaml",
    "layers/schema.yaml",
    "layers/migrations/env.py",
    "layers/migrations/script.py.mako",
    "styles/schema.yaml",
    "app/static/vendor/ol/ol.js",
    "app/static/vendor/ol/LICENSE.md",
    "app/templates/console/index.html",
]
DATA_GLOBS = ["layers/defs/*.yaml", "styles/*.yaml", "layers/migrations/versions/*.py", "app/static/console/*.js",
              "app/templates/auth/*.html", "mapserver/templates/*.html", "mapserver/pygeoapi_templates/**/*.html",
              "mapserver/ogc_schemas/**/*.yaml", "data/demo/*.py"]

_PROBE = r"""
import importlib, json, pkgutil, sys
from importlib import metadata
from pathlib import Path

site = Path(sys.argv[1])
out = {"outside": [], "failed": [], "modules": 0, "missing": [], "empty_globs": [], "entry_points": []}
for top in json.loads(sys.argv[2]):
    package = importlib.import_module(top)
    for info in [None, *pkgutil.walk_packages(package.__path__, top + ".")]:
        name = top if info is None else info.name
        if ".migrations." in name:
            continue  # Alembic runs env.py and the revisions by path, inside its own context
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            out["failed"].append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        out["modules"] += 1
        if not Path(module.__file__).resolve().is_relative_to(site):
            out["outside"].append(f"{name}: {module.__file__}")
for rel in json.loads(sys.argv[3]):
    if not (site / rel).is_file():
        out["missing"].append(rel)
for pattern in json.loads(sys.argv[4]):
    if not list(site.glob(pattern)):
        out["empty_globs"].append(pattern)
out["entry_points"] = sorted(ep.name for ep in metadata.entry_points(group="onemap.modules"))
print(json.dumps(out))
"""


def _packages() -> list[str]:
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return [p.rstrip("*") for p in cfg["options.packages.find"]["include"].split()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(virtualenv python, its site-packages) with only the wheel installed; dependencies from the test venv."""
    work = tmp_path_factory.mktemp("wheel")
    # setuptools builds inside the source tree (build/, *.egg-info): build from a copy of the tracked and new files
    src = work / "src"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(work / "dist")], check=True, cwd=work)
    wheels = list((work / "dist").glob("onemap-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip())
    # third-party dependencies come from the test environment's site-packages (a path, not its .pth files, so the
    # editable install of the checkout stays out of it)
    (target / "onemap_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--disable-pip-version-check", str(wheels[0])], check=True)
    return python, target


def test_every_module_and_data_file_comes_from_the_installed_wheel(installed: tuple[Path, Path],
                                                                    tmp_path: Path) -> None:
    python, target = installed
    run = subprocess.run([str(python), "-c", _PROBE, str(target), json.dumps(_packages()), json.dumps(DATA_FILES),
                          json.dumps(DATA_GLOBS)], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found["failed"] == []
    assert found["outside"] == []            # nothing was imported from the checkout
    assert found["missing"] == [] and found["empty_globs"] == []
    source_modules = sum(1 for top in _packages() for p in (ROOT / top).rglob("*.py")
                         if "vendor" not in p.parts and ("migrations" not in p.parts or p.name == "__init__.py"
                                                         and p.parent.name == "migrations"))
    assert found["modules"] == source_modules  # every source module is in the wheel
    declared = subprocess.run([sys.executable, "-c", "from importlib import metadata; print(sorted(ep.name for ep in "
                               "metadata.entry_points(group='onemap.modules')))"], capture_output=True, text=True)
    assert str(found["entry_points"]) == declared.stdout.strip()


def test_the_installed_cli_checks_the_configuration_outside_the_checkout(installed: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    python, target = installed
    onemap = python.parent / "onemap"
    run = subprocess.run([str(onemap), "config", "check"], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ONEMAP_HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    assert "configuration OK" in run.stdout
    assert not (target / "var").exists()  # relative paths resolve under ONEMAP_HOME, never in site-packages
