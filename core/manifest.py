"""Module manifests: what each business module (and each area such as access control or the OGC stack) plugs in.

A module declares one :class:`Manifest` and names it in its package metadata, under the entry-point group
``onemap.modules`` (``setup.cfg``)::

    [options.entry_points]
    onemap.modules =
        emergency = emergency.manifest:MANIFEST

The application factory, the console, the CLI, the pygeoapi configuration, the model metadata, the policy loader and
the private cluster read the manifests; none of them lists a module by name. A deployment adds modules that are not
installed as packages with ``modules.extra`` (``"dotted.module:ATTRIBUTE"``) and switches installed ones off with
``modules.disabled`` in the configuration. References inside a manifest are strings (``"package.module:attribute"``)
so reading a manifest imports nothing heavy; :func:`load` resolves them when the part is needed.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

from core.yamlload import parse

ENTRY_POINT_GROUP = "onemap.modules"


class ManifestError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid module manifests: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Manifest:
    """One module's contribution. Every reference is ``"dotted.module:attribute"`` unless said otherwise."""

    name: str                                         # short id: "emergency", "hazard_sources"
    label: Mapping[str, str] = field(default_factory=dict)       # {"zh-CN": ..., "en": ...}
    blueprints: tuple[str, ...] = ()                  # Flask blueprints
    panel_sections: tuple[str, ...] = ()              # register() functions calling core.panels.register_panel_section
    console_scripts: tuple[str, ...] = ()             # "package:static/x.js": ES modules the console loads (below)
    realtime_topics: tuple[str, ...] = ()             # event type prefixes it publishes ("incident.", "order.")
    cli_groups: tuple[str, ...] = ()                  # click groups added to ``onemap``
    model_modules: tuple[str, ...] = ()               # modules with define_tables(metadata)
    processes: Mapping[str, str] = field(default_factory=dict)   # OGC API process id -> processor class
    config: str | None = None                         # core.config.ConfigSection: its own top-level config key
    openapi: str | None = None                        # its part of /api/openapi.json: "package:file.yaml" or fn() -> dict
    policy: str | None = None                         # "package:file.yaml" policy fragment (pages, modules, rules)
    config_checks: tuple[str, ...] = ()               # fn(config) -> list[str] problems (stage 3 of config check)
    cluster_setup: tuple[str, ...] = ()               # fn(psycopg superuser connection, app role) on a new database
    migration_context: Mapping[str, str] = field(default_factory=dict)  # name -> fn(config): services migrations ask
    demo_loader: str | None = None                    # fn(connection, rng) -> None: the module's demo rows
    case_types: tuple[str, ...] = ()                  # "package:cases/x.yaml": case types run by the case engine
    case_effects: Mapping[str, str] = field(default_factory=dict)  # effect name -> fn(ctx, spec): effects it adds
    background: tuple[str, ...] = ()                  # fn(settings, stop: threading.Event): loops `onemap serve`
                                                      # runs beside the server and `onemap worker` runs alone
    requires: tuple[str, ...] = ()                    # names of manifests this one needs



# -- console scripts -------------------------------------------------------------------------------------------
# A module ships the console's front-end for its panels as ES modules in its own package, under ``static/``, and names
# them in ``console_scripts`` as ``"package:static/file.js"``. The console serves a package's ``static/`` folder at
# ``<root>static/modules/<package>/`` (app/console/views.py) and its boot JSON lists the URLs of every active
# manifest's scripts; main.js ``import()``s each one and calls its plug-in interface (app/static/console/main.js):
#
#     export function init(map, host) -> {isPicking?(), noteSearchResult?(result), onLiveEvent?(event)}
#
# Being served one folder level below the console's own modules, a plug-in imports the console's shared modules
# (boot.js, panel.js, projection.js) as ``"../../console/boot.js"``: the same URL, hence the same module instance
# (one panel, one BOOT) as main.js.
STATIC_DIR = "static"
STATIC_URL = "static/modules"


def console_script_path(reference: str) -> tuple[str, str]:
    """``"package:static/a/b.js"`` -> ``("package", "a/b.js")``: the package and the file inside its static folder."""
    package, _, relative = reference.partition(":")
    folder, _, filename = relative.partition("/")
    if not package or folder != STATIC_DIR or not filename.endswith(".js") or ".." in filename.split("/"):
        raise ValueError(f"console script {reference!r} is not 'package:{STATIC_DIR}/<file>.js'")
    return package, filename


def console_script_url(reference: str) -> str:
    """The script's URL below the application root (no leading slash)."""
    package, filename = console_script_path(reference)
    return f"{STATIC_URL}/{package}/{filename}"


def resource(reference: str) -> Path:
    """The file ``"package:relative/path"`` names, inside the installed package."""
    package, _, relative = reference.partition(":")
    return Path(str(files(package).joinpath(relative)))


def load_document(reference: str) -> Any:
    """A YAML document a manifest names (``"package:file.yaml"``), or what a function it names returns."""
    if reference.endswith((".yaml", ".yml")):

        return parse(resource(reference).read_text(encoding="utf-8"))
    return load(reference)()


def load(reference: str) -> Any:
    """Resolve ``"dotted.module:attribute"``."""
    module, _, attribute = reference.partition(":")
    target: Any = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        target = getattr(target, part)
    return target


def installed_references() -> dict[str, str]:
    """Entry points of the installed distribution(s): name -> reference."""
    return {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def manifests(config: Mapping[str, Any] | None = None) -> tuple[Manifest, ...]:
    """The active manifests: installed ones plus ``modules.extra``, minus ``modules.disabled``, checked."""
    modules = (config or {}).get("modules") or {}
    return _manifests(tuple(modules.get("extra") or ()), tuple(modules.get("disabled") or ()))


_CACHE: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[Manifest, ...]] = {}


def _manifests(extra: tuple[str, ...], disabled: tuple[str, ...]) -> tuple[Manifest, ...]:
    key = (extra, disabled)
    if key not in _CACHE:
        references = [ref for name, ref in sorted(installed_references().items()) if name not in disabled]
        found = []
        problems = []
        for ref in [*references, *extra]:
            try:
                manifest = load(ref)
            except (ImportError, AttributeError) as exc:
                problems.append(f"{ref}: cannot be loaded ({exc})")
                continue
            if not isinstance(manifest, Manifest):
                problems.append(f"{ref}: is not a core.manifest.Manifest")
                continue
            if manifest.name not in disabled:
                found.append(manifest)
        problems.extend(check(found))
        if problems:
            raise ManifestError(problems)
        _CACHE[key] = tuple(found)
    return _CACHE[key]


def check(found: Iterable[Manifest]) -> list[str]:
    """Cross-manifest problems: duplicate names, processes or blueprints; unmet ``requires``."""
    problems: list[str] = []
    names: dict[str, Manifest] = {}
    owners: dict[tuple[str, str], str] = {}
    for m in found:
        if m.name in names:
            problems.append(f"module {m.name!r} is declared twice")
        names[m.name] = m
        for kind, items in (("process", m.processes), ("blueprint", m.blueprints), ("CLI group", m.cli_groups),
                            ("case effect", m.case_effects)):
            for item in items:
                if (kind, item) in owners:
                    problems.append(f"{kind} {item!r} of module {m.name!r} is already offered by {owners[kind, item]!r}")
                owners[(kind, item)] = m.name
    for m in names.values():
        problems.extend(f"module {m.name!r} requires module {r!r}, which is not active"
                        for r in m.requires if r not in names)
        problems.extend(_script_problems(m))
    return problems


def _script_problems(m: Manifest) -> list[str]:
    """A console script must name a file of the package's static folder that exists (the console loads it)."""
    problems = []
    for reference in m.console_scripts:
        try:
            console_script_path(reference)
            missing = not resource(reference).is_file()
        except (ValueError, ImportError) as exc:
            problems.append(f"module {m.name!r}: {exc}")
            continue
        if missing:
            problems.append(f"module {m.name!r}: console script {reference!r} does not exist")
    return problems


def in_dependency_order(found: Iterable[Manifest]) -> list[Manifest]:
    """The manifests with each one after those it ``requires`` (otherwise by name): the order demo loaders run in,
    since one module's demo rows may need another's (hidden dangers need the holiday schedule)."""
    pending = {m.name: m for m in found}
    done: list[Manifest] = []
    while pending:
        ready = [m for m in pending.values() if all(r not in pending for r in m.requires)] or list(pending.values())
        first = min(ready, key=lambda m: m.name)
        done.append(pending.pop(first.name))
    return done


def collect(config: Mapping[str, Any] | None, part: str) -> list[Any]:
    """One part of every active manifest, in order, flattened (``collect(cfg, "blueprints")``)."""
    out: list[Any] = []
    for m in manifests(config):
        value = getattr(m, part)
        if isinstance(value, Mapping):
            out.extend(value.items())
        elif isinstance(value, tuple):
            out.extend(value)
        elif value is not None:
            out.append(value)
    return out


__all__ = ["ENTRY_POINT_GROUP", "STATIC_DIR", "STATIC_URL", "Manifest", "ManifestError", "check", "collect",
           "console_script_path", "console_script_url", "in_dependency_order", "installed_references", "load", "load_document", "manifests", "resource"]
