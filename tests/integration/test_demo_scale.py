"""``onemap demo build --scale N`` end to end: the CLI migrates an empty PostGIS and loads N× the point layers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

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
    engine.dispose()
    assert (tmp_path / "secrets" / "totp.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "data" / "population.tif").exists()
    # --if-missing recognises the same city and does nothing
    again = subprocess.run([ONEMAP, "demo", "build", "--scale", "2", "--seed", "7", "--if-missing"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and "already loaded" in again.stdout
