"""The private cluster that ``make run`` and the image use is durable; only the test suite's cluster opts out.

A durable cluster keeps an acknowledged commit through a crash (``pg_ctl stop -m immediate`` skips the shutdown
checkpoint and kills every backend, as a power cut or a killed container would) and a restart.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.pgcluster import NON_DURABLE_SETTINGS, PrivateCluster, find_bindir
from tests.conftest import free_port, pytest_report_header


def _connect(cluster: PrivateCluster) -> psycopg.Connection:
    creds = cluster._credentials()
    return psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", password=creds["superuser"],
                           dbname="postgres", autocommit=True)


@pytest.fixture(scope="module")
def default_cluster() -> Iterator[PrivateCluster]:
    """A cluster made exactly as ``onemap db up`` makes it (no durability argument)."""
    base = Path(tempfile.mkdtemp(prefix="onemap-durable-pg-", dir="/var/tmp"))
    base.chmod(0o755)  # the postgres user must reach it when the suite runs as root
    cluster = PrivateCluster(base, free_port(), "durable")
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


def test_default_cluster_is_durable(default_cluster: PrivateCluster) -> None:
    assert default_cluster.durable is True
    assert default_cluster.durability() == {name: "on" for name in NON_DURABLE_SETTINGS}


def test_suite_cluster_opts_out_and_says_so(pg_cluster: PrivateCluster) -> None:
    assert pg_cluster.durable is False
    assert pg_cluster.durability() == NON_DURABLE_SETTINGS
    header = "\n".join(pytest_report_header())
    assert "NOT durable" in header
    for name, value in NON_DURABLE_SETTINGS.items():
        assert f"{name}={value}" in header


def test_acknowledged_commits_survive_a_crash(default_cluster: PrivateCluster) -> None:
    with _connect(default_cluster) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS acknowledged (n integer PRIMARY KEY)")
        conn.execute("TRUNCATE acknowledged")
        # one commit per statement (autocommit): each is acknowledged before the next one starts
        for n in range(200):
            conn.execute("INSERT INTO acknowledged VALUES (%s)", (n,))
    default_cluster._run([str(find_bindir() / "pg_ctl"), "stop", "-w", "-m", "immediate",
                          "-D", str(default_cluster.data)])
    assert not default_cluster.running()
    default_cluster.start()  # crash recovery replays the WAL
    with _connect(default_cluster) as conn:
        assert conn.execute("SELECT count(*), max(n) FROM acknowledged").fetchone() == (200, 199)


def test_a_non_durable_server_left_running_is_restarted_durable(default_cluster: PrivateCluster) -> None:
    """A cluster an earlier version started with fsync=off must not stay so when ``make run`` starts it again."""
    default_cluster.stop()
    PrivateCluster(default_cluster.base, default_cluster.port, "durable", durable=False).start()
    assert default_cluster.durability() == NON_DURABLE_SETTINGS
    default_cluster.start()
    assert default_cluster.durability() == {name: "on" for name in NON_DURABLE_SETTINGS}
