"""Migrations go up and down cleanly, and the migrated schema matches the layer registry exactly."""

from __future__ import annotations

import sqlalchemy as sa

from layers import migrate
from layers.models import metadata
from layers.registry import default_registry


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_up_down_up(empty_db: str) -> None:
    engine = sa.create_engine(empty_db)
    ours = set(metadata().tables)
    assert not migrate.is_current(engine)
    migrate.upgrade(engine)
    assert migrate.current(engine) is not None
    # every head applied, also one that another branch depends on (monitoring's m002 on the cases' c002), which
    # the database then no longer lists among its heads: `onemap serve` must not call this schema behind
    assert migrate.is_current(engine)
    assert ours <= _tables(engine)
    migrate.downgrade(engine)
    assert migrate.current(engine) is None
    assert not migrate.is_current(engine)
    assert not (ours & _tables(engine))
    assert "spatial_ref_sys" in _tables(engine)  # PostGIS's own table is left alone
    migrate.upgrade(engine)
    assert ours <= _tables(engine)
    engine.dispose()


def test_migrated_schema_matches_registry(empty_db: str) -> None:
    """Adding or changing a layer file without a migration makes this fail."""
    engine = sa.create_engine(empty_db)
    migrate.upgrade(engine)
    assert migrate.pending_changes(engine) == []
    engine.dispose()


def test_every_geometry_is_cgcs2000(empty_db: str) -> None:
    engine = sa.create_engine(empty_db)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT f_table_name, srid FROM geometry_columns")).all())
    for layer in default_registry():
        assert rows[layer.table] == 4490, layer.table
    engine.dispose()


def test_constraints_reject_bad_rows(empty_db: str) -> None:
    """Enums and ranges from the registry are enforced by the database, not just by the importers."""
    engine = sa.create_engine(empty_db)
    migrate.upgrade(engine)
    insert = sa.text(
        "INSERT INTO districts (code, name, geom) VALUES ('329901', 'x', "
        "ST_Multi(ST_GeomFromText('POLYGON((119 32,119.1 32,119.1 32.1,119 32))', 4490)))")
    bad_enterprise = sa.text(
        "INSERT INTO enterprises (uscc, name, industry_code, sector, employees, address, legal_representative, "
        "risk_colour, district_code, geom) VALUES ('91329901MA1XXXXX0X', 'x', '2614', 'hazchem', 10, 'a', 'b', "
        "'purple', '329901', ST_GeomFromText('POINT(119.05 32.05)', 4490))")
    wrong_srid = sa.text(
        "INSERT INTO districts (code, name, geom) VALUES ('329902', 'y', "
        "ST_Multi(ST_GeomFromText('POLYGON((119 32,119.1 32,119.1 32.1,119 32))', 4326)))")
    with engine.begin() as conn:
        conn.execute(insert)
    for statement in (bad_enterprise, wrong_srid):
        try:
            with engine.begin() as conn:
                conn.execute(statement)
        except sa.exc.DBAPIError:
            continue
        raise AssertionError(f"accepted: {statement}")
    engine.dispose()
