"""A migrated database without the demo city, for the kernel's own tables (shared by one test module)."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from core.pgcluster import PrivateCluster
from layers import migrate
from tests.conftest import create_empty_database, drop_database


def migrated_database(cluster: PrivateCluster, name: str) -> Iterator[str]:
    app_url = create_empty_database(cluster, name)
    engine = sa.create_engine(app_url)
    migrate.upgrade(engine)
    engine.dispose()
    yield app_url
    drop_database(cluster, name)
