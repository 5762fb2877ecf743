"""A migrated database without the demo city, for the kernel's own tables (shared by one test module)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import sqlalchemy as sa

from core.pgcluster import PrivateCluster
from layers import migrate
from tests.conftest import admin_conn, drop_database


def migrated_database(cluster: PrivateCluster, name: str) -> Iterator[str]:
    with admin_conn(cluster) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" OWNER onemap')
    url = sa.engine.make_url(cluster.url(superuser=True)).set(database=name)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=name, autocommit=True) as conn:
        for ext in ("postgis", "postgis_raster", "pgrouting", "pg_trgm"):
            conn.execute(f"CREATE EXTENSION {ext}")
    app_url = cluster.url(dbname=name)
    engine = sa.create_engine(app_url)
    migrate.upgrade(engine)
    engine.dispose()
    yield app_url
    drop_database(cluster, name)
