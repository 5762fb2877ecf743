"""The streaming replica and the switch-over (core/replica.py): a second private cluster follows the primary, answers
read-only, and — after a planned switch-over — is the writable primary holding every write the old one acknowledged,
up to the last; the old primary is left stopped."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from core.pgcluster import PrivateCluster
from core.replica import ReplicaError, create, lag, switchover, wait_caught_up
from tests.conftest import free_port

DB = "replicated"


def _url(cluster: PrivateCluster) -> str:
    return cluster.url(dbname=DB).replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pair() -> Iterator[SimpleNamespace]:
    root = Path(tempfile.mkdtemp(prefix="onemap-test-replica-", dir="/var/tmp"))
    root.chmod(0o755)  # the postgres user must reach it when the suite runs as root
    primary = PrivateCluster(root / "primary", free_port(), DB, setup=(), durable=False)
    replica = PrivateCluster(root / "replica", free_port(), DB, setup=(), durable=False)
    try:
        primary.up()
        with psycopg.connect(_url(primary), autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, what text NOT NULL, "
                         "geom geometry(Point, 4490))")
        yield SimpleNamespace(primary=primary, replica=replica)
    finally:
        for cluster in (replica, primary):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _write(cluster: PrivateCluster, first: int, n: int) -> list[int]:
    acknowledged = []
    with psycopg.connect(_url(cluster), autocommit=True) as conn:  # each INSERT its own acknowledged commit
        for i in range(first, first + n):
            acknowledged.append(conn.execute(
                "INSERT INTO orders (what, geom) VALUES (%s, ST_SetSRID(ST_MakePoint(118.8, 32.0), 4490)) "
                "RETURNING id", (f"调度指令 {i}",)).fetchone()[0])
    return acknowledged


def _ids(cluster: PrivateCluster) -> list[int]:
    with psycopg.connect(_url(cluster)) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM orders ORDER BY id")]


def test_the_replica_follows_and_a_switchover_loses_no_acknowledged_write(pair: SimpleNamespace) -> None:
    primary, replica = pair.primary, pair.replica
    create(primary, replica)
    first = _write(primary, 1, 50)
    wait_caught_up(primary, replica)
    assert lag(primary, replica) == 0 and _ids(replica) == first
    with psycopg.connect(_url(replica), autocommit=True) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("INSERT INTO orders (what) VALUES ('写从库')")

    last = _write(primary, 51, 200)  # right up to the switch-over, not waited for
    result = switchover(primary, replica)
    assert result["old_primary_stopped"] and not primary.running()
    assert _ids(replica) == first + last  # every acknowledged write, the last included
    after = _write(replica, 251, 5)  # the promoted replica takes writes
    assert _ids(replica) == first + last + after
    with pytest.raises(ReplicaError, match="is not a replica"):
        switchover(primary, replica)


def test_a_replica_is_made_into_an_empty_directory_of_a_running_primary(pair: SimpleNamespace) -> None:
    pair.replica.data.mkdir(parents=True)
    (pair.replica.data / "PG_VERSION").write_text("15")
    with pytest.raises(ReplicaError, match="is not empty"):
        create(pair.primary, pair.replica)
    pair.primary.stop()
    with pytest.raises(ReplicaError, match="primary is not running"):
        create(pair.primary, PrivateCluster(pair.replica.base.parent / "other", free_port(), DB, setup=()))
