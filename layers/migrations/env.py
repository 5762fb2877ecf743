"""Alembic environment: runs against the connection handed over by ``layers.migrate`` (or DATABASE_URL)."""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.operations import ops
from geoalchemy2 import alembic_helpers

from layers.migrate import include_object
from layers.models import metadata

config = context.config
target_metadata = metadata()


def _write(migration_context: Any, revision: Any, directives: list[Any]) -> None:
    """GeoAlchemy2's writer (spatial tables and indexes), keeping the table comments it drops.

    Its ``create_geospatial_table`` is built without the table's ``comment`` (the Chinese layer title), so a
    generated revision would leave the table uncommented and the next comparison would report the difference;
    the comment is added back as its own operation, as revision 0001 does by hand."""
    comments = {op.table_name: op.comment for script in directives for op in script.upgrade_ops.ops
                if isinstance(op, ops.CreateTableOp) and op.comment}
    alembic_helpers.writer(migration_context, revision, directives)
    for script in directives:
        rewritten: list[Any] = []
        for op in script.upgrade_ops.ops:
            rewritten.append(op)
            if isinstance(op, alembic_helpers.CreateGeospatialTableOp) and not op.comment \
                    and comments.get(op.table_name):
                rewritten.append(ops.CreateTableCommentOp(op.table_name, comments[op.table_name]))
        script.upgrade_ops.ops[:] = rewritten


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `onemap db migrate` (layers.migrate)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=_write,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
