"""Backups of the private cluster (容灾备份): full base backups, continuous WAL archiving, restore to a point in time.

* **WAL archive** (the "incremental" part, finer than daily): with ``database.backup.archive`` on, the private cluster
  runs with ``archive_mode=on``; every finished WAL segment is gzipped into ``<backup dir>/wal`` (never overwritten:
  a segment archived twice must be the same bytes, else the archiver keeps retrying and PostgreSQL keeps the
  segment). ``archive_timeout`` closes a segment at least every ``archive_timeout_s`` seconds when anything was
  written, which bounds what a lost disk can take with it (the RPO).
* **Base backup** (``onemap backup``, weekly from a timer, or before an upgrade): ``pg_basebackup`` of the whole
  cluster (tar, gzip, with the WAL it needs: restorable alone) into ``<backup dir>/base/<UTC stamp>/``, the file
  store (attachments, keys, the population raster: ``database.backup.files``) as ``files.tar.gz`` beside it, and a
  ``manifest.json`` (times, sizes and SHA-256 of each file). The ``keep_full`` newest are kept; older ones, and the
  archived WAL only they needed, are removed.
* **Restore** (``onemap restore [--to TIME]``): the newest base backup finished before ``TIME``, unpacked into a new
  data directory, replayed from the WAL archive up to ``TIME`` (every transaction committed at or before it, none
  after), then promoted; started on its own port beside the live cluster, or in its place (``--in-place``: the
  live data directory is stopped and kept aside, never deleted). The restored cluster does not archive into the
  same archive (it would mix timelines).

Tile caches are not backed up: seeding makes them again (see mapserver/tiles.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import DomainError
from core.pgcluster import PrivateCluster, _is_root, find_bindir

STAMP = "%Y%m%dT%H%M%S%fZ"


class BackupError(DomainError):
    http_status = 409
    code = "backup_failed"


@dataclass(frozen=True)
class BackupSettings:
    dir: Path
    archive: bool
    archive_timeout_s: int
    keep_full: int
    files: tuple[Path, ...]

    @property
    def wal_dir(self) -> Path:
        return self.dir / "wal"

    @property
    def base_dir(self) -> Path:
        return self.dir / "base"

    def archive_options(self) -> list[str]:
        """The ``postgres -c`` settings that archive each finished WAL segment, gzipped, into :attr:`wal_dir`."""
        wal = shlex.quote(str(self.wal_dir))
        final, part = f"{wal}/%f.gz", f"{wal}/%f.gz.part"
        command = (f"if [ -f {final} ]; then gzip -dc {final} | cmp -s - %p; "
                   f"else gzip -c %p > {part} && mv {part} {final}; fi")
        return ["archive_mode=on", f"archive_timeout={self.archive_timeout_s}", f"archive_command={command}"]

    def prepare(self) -> None:
        """The archive's folders exist and the server's user may write them (before a cluster starts archiving)."""
        prepare(self)


def settings_of(config: Mapping[str, Any]) -> BackupSettings:
    from core.config import resolve_path

    b = config["database"]["backup"]
    return BackupSettings(resolve_path(b["dir"]), bool(b["archive"]), int(b["archive_timeout_s"]), int(b["keep_full"]),
                          tuple(resolve_path(p) for p in b["files"]))


# -- helpers -----------------------------------------------------------------------------------------------------------
def _owned_dir(path: Path) -> Path:
    """``path`` made (0700), owned by the user the cluster's programs run as."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if _is_root():
        shutil.chown(path, "postgres", "postgres")
    return path


def prepare(settings: BackupSettings) -> None:
    """The archive's folders exist and the server's user may write them (before a cluster starts archiving)."""
    from core.pgcluster import _reachable_by_postgres

    if _is_root() and not _reachable_by_postgres(settings.dir):
        raise BackupError(f"the postgres user cannot reach {settings.dir}: set database.backup.dir to a folder it "
                          "can (its parents must be searchable)", f"postgres 用户无法访问备份目录 {settings.dir}")
    for d in (settings.dir, settings.wal_dir, settings.base_dir):
        _owned_dir(d)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _query(cluster: PrivateCluster, sql: str, dbname: str = "postgres") -> Any:
    import psycopg

    creds = cluster._credentials()
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", password=creds["superuser"],
                         dbname=dbname, autocommit=True) as conn:
        return conn.execute(sql).fetchone()[0]


# -- backup ------------------------------------------------------------------------------------------------------------
def backup(cluster: PrivateCluster, settings: BackupSettings) -> dict[str, Any]:
    """A full base backup of the running ``cluster`` and the file store; the manifest written beside them."""
    if not cluster.running():
        raise BackupError("the private cluster is not running: `onemap db up` first", "私有数据库未运行：请先运行 onemap db up")
    prepare(settings)
    started = datetime.now(UTC)
    stamp = started.strftime(STAMP)
    target = settings.base_dir / stamp
    part = settings.base_dir / f".{stamp}.part"
    _owned_dir(part)
    wal_start = _query(cluster, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    env = {**os.environ, "PGPASSWORD": cluster._credentials()["superuser"]}
    cmd = [str(find_bindir() / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
           "-D", str(part), "-F", "tar", "-z", "-X", "stream", "-c", "fast", "--no-password",
           "-l", f"onemap {stamp}"]
    import subprocess

    result = subprocess.run(["runuser", "-u", "postgres", "--", *cmd] if _is_root() else cmd, capture_output=True,
                            text=True, env=env)
    if result.returncode != 0:
        shutil.rmtree(part, ignore_errors=True)
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise BackupError(f"pg_basebackup failed: {tail}", f"数据库备份失败：{tail}")
    finished_at = _query(cluster, "SELECT now()")
    _files_archive(settings, part / "files.tar.gz")
    files = {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(part.iterdir()) if p.is_file()}
    manifest = {"stamp": stamp, "started_at": started.isoformat(), "finished_at": finished_at.isoformat(),
                "wal_start": wal_start, "port": cluster.port, "archive": settings.archive,
                "server_version": _query(cluster, "SHOW server_version"),
                "file_store": [str(p) for p in settings.files], "files": files}
    (part / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    part.rename(target)  # only a complete backup carries its final name
    manifest["dir"] = str(target)
    manifest["removed"] = prune(settings)
    return manifest


def _files_archive(settings: BackupSettings, out: Path) -> None:
    with tarfile.open(out, "w:gz") as tar:
        for path in settings.files:
            if path.exists():
                tar.add(path, arcname=path.name)


def backups(settings: BackupSettings) -> list[dict[str, Any]]:
    """The complete base backups, oldest first (their manifests, with ``dir``)."""
    out = []
    if settings.base_dir.is_dir():
        for d in sorted(settings.base_dir.iterdir()):
            manifest = d / "manifest.json"
            if d.name.startswith(".") or not manifest.is_file():
                continue
            out.append({**json.loads(manifest.read_text(encoding="utf-8")), "dir": str(d)})
    return out


def prune(settings: BackupSettings) -> list[str]:
    """Keep the ``keep_full`` newest base backups; drop older ones and the archived WAL none of the kept needs."""
    found = backups(settings)
    removed = []
    for old in found[:-settings.keep_full] if len(found) > settings.keep_full else []:
        shutil.rmtree(old["dir"])
        removed.append(old["stamp"])
    kept = found[-settings.keep_full:]
    if kept and settings.wal_dir.is_dir():
        oldest = kept[0]["wal_start"]
        for f in settings.wal_dir.iterdir():
            segment = f.name.removesuffix(".gz")
            # 24 hex digits: timeline, log, segment; history files (.history) are kept
            if len(segment) == 24 and all(c in "0123456789ABCDEF" for c in segment) and segment[8:] < oldest[8:]:
                f.unlink()
    return removed


# -- restore -----------------------------------------------------------------------------------------------------------
def choose(settings: BackupSettings, to: datetime | None) -> dict[str, Any]:
    """The newest base backup that finished at or before ``to`` (the newest of all without one)."""
    found = backups(settings)
    usable = [b for b in found if to is None or datetime.fromisoformat(b["finished_at"]) <= to]
    if not usable:
        when = f" finished before {to.isoformat()}" if to else ""
        oldest = f" (the oldest finished at {found[0]['finished_at']})" if found else ""
        raise BackupError(f"no base backup{when} in {settings.base_dir}{oldest}",
                          f"{settings.base_dir} 中没有可用于该时间点的全量备份{oldest}")
    return usable[-1]


def restore(settings: BackupSettings, source: PrivateCluster, into: PrivateCluster, *, to: datetime | None,
            timeout_s: float = 300.0) -> dict[str, Any]:
    """Restore into ``into`` (a stopped cluster whose data directory is empty or missing): the base backup, then
    the archived WAL up to ``to``; started, promoted and answering when this returns."""
    if to is not None and not settings.archive:
        raise BackupError("a restore to a point in time needs the WAL archive (database.backup.archive: true); "
                          "without it a restore ends where its base backup ended: leave out --to",
                          "按时间点恢复需要开启 WAL 归档（database.backup.archive）")
    chosen = choose(settings, to)
    base = Path(chosen["dir"])
    for name, meta in chosen["files"].items():
        if _sha256(base / name) != meta["sha256"]:
            raise BackupError(f"{base / name} does not match its checksum: the backup is damaged",
                              f"备份文件 {base / name} 校验失败：备份已损坏")
    if into.data.exists() and any(into.data.iterdir()):
        raise BackupError(f"{into.data} is not empty: restore into a new directory", f"{into.data} 非空：请恢复到新目录")
    for d in (into.base, into.data, into.run_dir, into.logfile.parent):
        _owned_dir(d)
    wal = into.data / "pg_wal"
    _owned_dir(wal)
    into._run(["tar", "-xzf", str(base / "base.tar.gz"), "-C", str(into.data)])
    into._run(["tar", "-xzf", str(base / "pg_wal.tar.gz"), "-C", str(wal)])
    (into.base / "credentials.json").write_text(source.secrets_file.read_text())  # the same roles, restored
    (into.base / "credentials.json").chmod(0o600)
    settings_lines = [
        "restore_command = '" + _restore_command(settings).replace("'", "''") + "'",
        "recovery_target_action = 'promote'",
        "archive_mode = 'off'",  # never into the archive it restores from
    ]
    if to is not None:
        settings_lines.append(f"recovery_target_time = '{to.isoformat()}'")
    auto = into.data / "postgresql.auto.conf"
    existing = auto.read_text() if auto.exists() else ""
    auto.write_text(existing + "\n# onemap restore\n" + "\n".join(settings_lines) + "\n")
    (into.data / "recovery.signal").write_text("")
    if _is_root():
        for f in (auto, into.data / "recovery.signal"):
            shutil.chown(f, "postgres", "postgres")
    into.archive = None  # a -c archive_mode=on on the command line would win over the file's 'off'
    into.start()
    deadline = time.monotonic() + timeout_s
    while _query(into, "SELECT pg_is_in_recovery()"):
        if time.monotonic() > deadline:
            raise BackupError(f"the restored cluster is still recovering after {timeout_s:.0f} s (log: {into.logfile})",
                              "恢复超时")
        time.sleep(0.2)
    return {"backup": chosen["stamp"], "to": to.isoformat() if to else None, "data": str(into.data),
            "port": into.port, "files": str(base / "files.tar.gz")}


def _restore_command(settings: BackupSettings) -> str:
    wal = shlex.quote(str(settings.wal_dir))
    return f"test -f {wal}/%f.gz && gunzip -c {wal}/%f.gz > %p"


__all__ = ["BackupError", "BackupSettings", "backup", "backups", "choose", "prepare", "prune", "restore",
           "settings_of"]
