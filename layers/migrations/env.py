"""Alembic environment: runs against the connection handed over by ``layers.migrate`` (or DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

from layers.migrate import include_object
from layers.models import metadata

config = context.config
target_metadata = metadata()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `onemap db migrate` (layers.migrate)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
