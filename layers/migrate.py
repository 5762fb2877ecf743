"""Run the Alembic migrations of the layer tables on a given engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


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

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return set(ScriptDirectory.from_config(cfg).get_heads())


def is_current(engine: Engine) -> bool:
    """Whether every migration branch is applied (the app must not serve a schema it does not know)."""
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads()


def current(engine: Engine) -> str | None:
    """The current revision(s), comma-separated when several module branches are applied."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) or None


def autogenerate(engine: Engine, message: str) -> None:
    """Developer tool: write a new revision from the difference between the registry and the database."""
    _run(engine, command.revision, message, True)
