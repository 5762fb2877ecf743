"""``onemap backup`` and ``onemap restore`` (core/backup.py): the private cluster's base backups and point-in-time
restore. A deployment whose ``DATABASE_URL`` names another server backs that server up with its own tools."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click


def _context() -> tuple[dict[str, Any], Any, Any]:
    from core.backup import settings_of
    from core.config import load_config
    from core.db import private_cluster

    config = load_config()
    if config["database"]["url"]:
        raise click.UsageError("DATABASE_URL is set: OneMap backs up only its private cluster (use the server's own "
                               "backup tools, e.g. pgBackRest, for that one)")
    return config, private_cluster(config), settings_of(config)


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-12-08T09:30:00+08:00)") from None
    if when.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset: say which clock (e.g. +08:00)")
    return when.astimezone(UTC)


@click.command("backup")
@click.option("--list", "list_only", is_flag=True, help="list the base backups kept instead of taking one")
def backup_command(list_only: bool) -> None:
    """Take a full base backup of the private cluster and the file store (keeps the newest keep_full)."""
    from core.backup import backup, backups

    _, cluster, settings = _context()
    if list_only:
        click.echo(json.dumps([{k: b[k] for k in ("stamp", "started_at", "finished_at", "dir")}
                               for b in backups(settings)], indent=2, ensure_ascii=False))
        return
    manifest = backup(cluster, settings)
    size = sum(f["bytes"] for f in manifest["files"].values())
    click.echo(f"backup {manifest['stamp']} in {manifest['dir']} ({size / 1e6:.1f} MB; finished "
               f"{manifest['finished_at']}; WAL archive {'on' if settings.archive else 'OFF: restore to this moment only'})"
               + (f"; removed {', '.join(manifest['removed'])}" if manifest["removed"] else ""))


@click.command("restore")
@click.option("--to", "to", default=None, help="restore to this moment (ISO 8601 with offset); default: the latest")
@click.option("--into", "into", type=click.Path(path_type=Path), default=None,
              help="directory of the restored cluster (default: beside the live one, named by the time)")
@click.option("--port", type=int, default=None, help="port of the restored cluster (default: the live one's + 1)")
def restore_command(to: str | None, into: Path | None, port: int | None) -> None:
    """Restore the private cluster's newest backup before TIME into a new cluster beside the live one."""
    from core.backup import restore
    from core.pgcluster import PrivateCluster

    _, cluster, settings = _context()
    when = _time(to)
    target = into or cluster.base.parent / f"{cluster.base.name}-restored-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    restored = PrivateCluster(target, port or cluster.port + 1, cluster.dbname, setup=(), durable=True)
    result = restore(settings, cluster, restored, to=when)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    click.echo(f"restored cluster running on port {restored.port} ({restored.data}); check it, then point "
               "database.private_cluster.dir/port at it (or DATABASE_URL) and restart OneMap; the file store of "
               f"the backup is in {result['files']}")


@click.group("replica")
def replica_group() -> None:
    """A streaming replica of the private cluster and the switch-over to it (core/replica.py)."""


def _replica(into: Path | None, port: int | None, cluster: Any) -> Any:
    from core.pgcluster import PrivateCluster

    return PrivateCluster(into or cluster.base.parent / f"{cluster.base.name}-replica", port or cluster.port + 2,
                          cluster.dbname, setup=())


_DIR = click.option("--dir", "into", type=click.Path(path_type=Path), default=None,
                    help="the replica's directory (default: beside the primary's, named -replica)")
_PORT = click.option("--port", type=int, default=None, help="the replica's port (default: the primary's + 2)")


@replica_group.command("up")
@_DIR
@_PORT
def replica_up(into: Path | None, port: int | None) -> None:
    """Make a streaming replica of the running private cluster (or start the one made before)."""
    from core.replica import create

    _, cluster, _ = _context()
    replica = _replica(into, port, cluster)
    if replica.initialised:
        replica.start()
        click.echo(f"replica on port {replica.port} started ({replica.data})")
        return
    click.echo(json.dumps(create(cluster, replica), indent=2))


@replica_group.command("lag")
@_DIR
@_PORT
def replica_lag(into: Path | None, port: int | None) -> None:
    """Bytes of WAL the replica has not replayed yet."""
    from core.replica import lag

    _, cluster, _ = _context()
    click.echo(f"{lag(cluster, _replica(into, port, cluster))} bytes behind")


@replica_group.command("switchover")
@_DIR
@_PORT
def replica_switchover(into: Path | None, port: int | None) -> None:
    """Stop the primary cleanly and promote the replica (then point the configuration at it and restart)."""
    from core.replica import switchover

    _, cluster, _ = _context()
    replica = _replica(into, port, cluster)
    result = switchover(cluster, replica)
    click.echo(json.dumps(result, indent=2))
    click.echo(f"the replica on port {replica.port} ({replica.base}) is now the primary: set "
               "database.private_cluster.dir and .port to it (ONEMAP_PG_DIR, ONEMAP_PG_PORT) and restart OneMap; "
               f"the old primary in {cluster.base} is stopped and untouched")
