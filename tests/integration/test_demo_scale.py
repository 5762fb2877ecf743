"""``onemap demo build --scale N`` end to end: the CLI migrates an empty PostGIS and loads N× the point layers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import admin_conn

ONEMAP = str(Path(sys.executable).parent / "onemap")


@pytest.mark.slow
def test_scale_run_through_the_cli(empty_db: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": empty_db, "ONEMAP_VAR": str(tmp_path), "ONEMAP_LOG_LEVEL": "WARNING"}
    result = subprocess.run([ONEMAP, "demo", "build", "--scale", "2", "--seed", "7"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(empty_db)
    with engine.connect() as conn:
        count = lambda table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: E731
        assert count("enterprises") == 10_000
        assert count("hazard_sources") == 300
        assert count("sensors") == 1_600
        assert count("districts") == 6
        # the demo accounts' TOTP secrets (public, in the README) are stored encrypted like any other
        from access.demo import DEMO_USERS

        stored = [v for (v,) in conn.execute(sa.text("SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL"))]
        clear = {u.totp_secret for u in DEMO_USERS if u.totp_secret}
        assert stored and clear and not clear & set(stored) and all(v.startswith("gAAAAA") for v in stored)
    assert (tmp_path / "secrets" / "totp.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "data" / "population.tif").exists()
    # --if-missing recognises the same city and does nothing
    again = subprocess.run([ONEMAP, "demo", "build", "--scale", "2", "--seed", "7", "--if-missing"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and "already loaded" in again.stdout
    # another build over it: refused with the way out, nothing loaded over the city (an external database is the
    # operator's to empty; the private cluster's is created again, see test_cluster_recreate_database)
    other = subprocess.run([ONEMAP, "demo", "build", "--scale", "1", "--seed", "8"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert other.returncode == 1 and "Traceback" not in other.stderr, other.stderr
    assert "holds a demo city already" in other.stderr and "DATABASE_URL" in other.stderr, other.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM enterprises")).scalar_one() == 10_000
    engine.dispose()


def test_cluster_recreate_database(pg_cluster) -> None:  # noqa: ANN001
    """The private cluster's database is dropped (its sessions closed) and created empty, with the extensions and
    the app role's rights, as `onemap demo build` needs it over a demo city of another build."""
    from core.pgcluster import PrivateCluster

    cluster = PrivateCluster(pg_cluster.base, pg_cluster.port, "t_recreate", durable=False)
    cluster.ensure_database()
    engine = sa.create_engine(cluster.url())
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE leftover (id int)"))
    held = engine.connect()  # a session still open on it (a server that was not stopped)
    cluster.recreate_database()
    held.invalidate()
    engine.dispose()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('leftover')")).scalar_one() is None
        assert conn.execute(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar_one()
        conn.execute(sa.text("CREATE TABLE mine (id int)"))   # the app role owns the new database
    engine.dispose()
    with admin_conn(pg_cluster) as conn:
        conn.execute('DROP DATABASE "t_recreate" WITH (FORCE)')


