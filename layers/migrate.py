"""Run the Alembic migrations of the layer tables on a given engine, and write new ones.

Revisions live in the packaged ``layers/migrations/versions`` and, when ``ONEMAP_MIGRATIONS_DIR`` is set, in that
directory too: a deployment that adds layers of its own (``ONEMAP_LAYERS_DIR``) keeps their revisions there, and
``onemap db revision`` writes new ones there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSIONS_DIR = MIGRATIONS_DIR / "versions"


def extra_versions_dir() -> Path | None:
    """``ONEMAP_MIGRATIONS_DIR``: a deployment's own revisions (None: only the packaged ones)."""
    value = os.environ.get("ONEMAP_MIGRATIONS_DIR")
    return Path(value) if value else None


def version_locations() -> list[Path]:
    extra = extra_versions_dir()
    return [VERSIONS_DIR] if extra is None or extra.resolve() == VERSIONS_DIR.resolve() else [VERSIONS_DIR, extra]


def _script_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # alembic splits this option on the separator; paths with spaces survive with os.pathsep
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()))
    return cfg


def alembic_config(engine: Engine) -> Config:
    cfg = _script_config()
    cfg.attributes["engine"] = engine
    # deployment services a migration may ask for at run time (never imported by the migration itself), offered by
    # the modules (Manifest.migration_context: name -> "module:factory"), e.g. the TOTP key ring that migration a002
    # encrypts stored secrets with. A factory runs only when a migration asks, so an empty database needs no key.
    from core.manifest import collect

    for name, reference in collect(None, "migration_context"):
        cfg.attributes[name] = _deferred(reference)
    return cfg


def _deferred(reference: str) -> Any:
    def factory() -> Any:
        from core.config import load_config
        from core.manifest import load

        return load(reference)(load_config())

    return factory


def _run(engine: Engine, fn, *args) -> None:  # noqa: ANN001
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        fn(cfg, *args)


def upgrade(engine: Engine, revision: str = "heads") -> None:
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    _run(engine, command.downgrade, revision)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # PostGIS and pgRouting own tables of their own (spatial_ref_sys, topology...): not ours to manage.
    if type_ == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def pending_changes(engine: Engine) -> list[Any]:
    """Differences between the registry's tables and the migrated database (empty when in step)."""
    from layers.models import metadata

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
        return compare_metadata(ctx, metadata())


def heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(_script_config()).get_heads())


def is_current(engine: Engine) -> bool:
    """Whether every migration branch is applied (the app must not serve a schema it does not know).

    A head that another branch's revision depends on (``depends_on``, e.g. monitoring's m002 on the case engine's
    c002) is applied, yet no longer listed among the database's heads: every script head must be among the applied
    revisions and their ancestors, dependencies included, and the database must hold no revision the scripts lack."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    script = ScriptDirectory.from_config(_script_config())
    try:
        applied = {r.revision for r in script.iterate_revisions(tuple(current), "base")} if current else set()
    except (CommandError, RevisionError):   # a revision of another (newer) version of OneMap
        return False
    return heads() <= applied


def current(engine: Engine) -> str | None:
    """The current revision(s), comma-separated when several module branches are applied."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) or None


def layer_head() -> str:
    """The head new layer revisions go on: the tip of the line from the base that carries no branch label (module
    branches such as ``auth`` are labelled; the layer tables are the unlabelled main line). A module branch may
    grow from a main-line revision (``records`` from 0004), so the tip is the main-line revision no other
    main-line revision builds on, whether or not a module branch continues from it. Labels are read as each file
    declares them: Alembic also applies a label to the unbranched revisions below it, main-line ones included."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_script_config())
    main = {rev.revision: rev for rev in script.walk_revisions()
            if not any(r._orig_branch_labels for r in script.iterate_revisions(rev.revision, "base"))}
    parents = {p for rev in main.values() for p in rev._all_down_revisions}
    tips = sorted(r for r in main if r not in parents)
    if len(tips) != 1:
        raise RevisionProblem(f"expected one unlabelled head for layer revisions, found {tips}")
    return tips[0]


class RevisionProblem(Exception):
    """A revision cannot be written (database behind, nothing to write, no single head to build on)."""


def autogenerate(engine: Engine, message: str, *, head: str | None = None) -> Path:
    """Write a new revision from the difference between the registry and the migrated database; its path.

    The database must be at every head (otherwise the difference would repeat what a pending revision does), and
    there must be a difference. The file goes to ``ONEMAP_MIGRATIONS_DIR`` when set, else the packaged versions."""
    if not is_current(engine):
        raise RevisionProblem("the database is not at the latest revision: run `onemap db migrate` first")
    if not pending_changes(engine):
        raise RevisionProblem("the layer files and the database already agree: there is nothing to write")
    written: list[Any] = []
    cfg = alembic_config(engine)
    base = head or layer_head()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        # a main-line revision a module branch grows from is no Alembic head: building on it again is a splice
        script = command.revision(cfg, message, autogenerate=True, head=base, splice=base not in heads(),
                                  version_path=str(extra_versions_dir() or VERSIONS_DIR))
    written = script if isinstance(script, list) else [script]
    return Path(written[0].path)
