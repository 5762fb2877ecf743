"""A streaming replica of the private cluster (a second private cluster on its own port) and a switch-over to it.

* **Make** (``onemap db replica``): ``pg_basebackup -R`` from the running primary over a replication connection
  into the replica's empty data directory (``standby.signal`` and ``primary_conninfo`` written by it), the primary's
  credentials copied (the same roles), then started: it replays the primary's WAL as it streams and answers
  read-only queries (hot standby) — reports and exports can go there.
* **Switch-over** (``onemap db switchover``), planned: the primary is stopped cleanly first (a clean shutdown sends
  the standby every WAL record it has; nothing acknowledged is lost), then the replica is promoted and becomes a
  writable primary; point ``database.private_cluster`` (or ``DATABASE_URL``) at it and restart OneMap. The old
  primary is left stopped and untouched (rebuild it as the new replica with ``onemap db replica``).
* **Fail-over** after losing the primary is the same promotion without the clean stop: streaming is asynchronous, so
  the last transactions the replica had not received are lost — ``synchronous_standby_names`` on the primary trades
  commit latency for none (documented, not the default).

``lag`` reports how far behind the replica is (bytes of WAL not yet replayed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

import psycopg

from core.errors import DomainError
from core.pgcluster import PrivateCluster, _is_root, find_bindir


class ReplicaError(DomainError):
    http_status = 409
    code = "replica_failed"


def _connect(cluster: PrivateCluster, dbname: str = "postgres") -> psycopg.Connection:
    creds = cluster._credentials()
    return psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", password=creds["superuser"],
                           dbname=dbname, autocommit=True)


def create(primary: PrivateCluster, replica: PrivateCluster, *, timeout_s: float = 120.0) -> dict[str, Any]:
    """Make ``replica`` (stopped, with an empty or missing data directory) a streaming standby of ``primary``."""
    if not primary.running():
        raise ReplicaError("the primary is not running: `onemap db up` first", "主库未运行：请先运行 onemap db up")
    if replica.data.exists() and any(replica.data.iterdir()):
        raise ReplicaError(f"{replica.data} is not empty: a replica is made into a new directory",
                           f"{replica.data} 非空：请为从库指定新目录")
    for d in (replica.base, replica.run_dir, replica.logfile.parent):
        d.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(d, "postgres", "postgres")
    cmd = [str(find_bindir() / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
           "-D", str(replica.data), "-X", "stream", "-R", "-c", "fast", "--no-password"]
    env = {**os.environ, "PGPASSWORD": primary._credentials()["superuser"]}
    result = subprocess.run(["runuser", "-u", "postgres", "--", *cmd] if _is_root() else cmd, capture_output=True,
                            text=True, env=env)
    if result.returncode != 0:
        shutil.rmtree(replica.data, ignore_errors=True)
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise ReplicaError(f"pg_basebackup failed: {tail}", f"创建从库失败：{tail}")
    replica.secrets_file.write_text(primary.secrets_file.read_text())
    replica.secrets_file.chmod(0o600)
    replica.archive = None  # a standby does not archive into the primary's archive
    replica.start()
    deadline = time.monotonic() + timeout_s
    while not streaming(primary):
        if time.monotonic() > deadline:
            raise ReplicaError(f"the replica did not start streaming within {timeout_s:.0f} s (log: {replica.logfile})",
                               "从库未能开始流复制")
        time.sleep(0.2)
    return {"replica": str(replica.data), "port": replica.port, "primary_port": primary.port}


def streaming(primary: PrivateCluster) -> bool:
    with _connect(primary) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()[0] > 0


def lag(primary: PrivateCluster, replica: PrivateCluster) -> int:
    """Bytes of the primary's WAL the replica has not replayed yet."""
    with _connect(primary) as p:
        current = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    with _connect(replica) as r:
        return int(r.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, coalesce(pg_last_wal_replay_lsn(), '0/0'))",
                             (str(current),)).fetchone()[0])


def wait_caught_up(primary: PrivateCluster, replica: PrivateCluster, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while lag(primary, replica) > 0:
        if time.monotonic() > deadline:
            raise ReplicaError(f"the replica is still behind after {timeout_s:.0f} s", "从库复制延迟过大")
        time.sleep(0.05)


def switchover(primary: PrivateCluster, replica: PrivateCluster, *, timeout_s: float = 120.0) -> dict[str, Any]:
    """Planned: stop the primary cleanly (its last WAL reaches the replica), then promote the replica."""
    with _connect(replica) as conn:
        if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            raise ReplicaError(f"the cluster on port {replica.port} is not a replica", "目标不是从库")
    if primary.running():
        with _connect(primary) as conn:
            final = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        primary.stop()  # a clean (fast) shutdown: the WAL senders pass on everything before they exit
    else:
        final = None  # a fail-over: whatever the replica received is what there is
    primary_lost = final is None
    replica._run([str(find_bindir() / "pg_ctl"), "promote", "-w", "-t", str(int(timeout_s)), "-D", str(replica.data)])
    with _connect(replica) as conn:
        replayed = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        if final is not None and conn.execute("SELECT %s::pg_lsn < %s::pg_lsn", (str(replayed), str(final))
                                              ).fetchone()[0]:
            raise ReplicaError(f"the promoted replica ends at {replayed}, before the primary's last {final}",
                               "从库晋升时未收到主库全部日志")
    return {"primary": replica.port, "old_primary_stopped": not primary_lost, "lsn": str(replayed)}


__all__ = ["ReplicaError", "create", "lag", "streaming", "switchover", "wait_caught_up"]
