"""The restore drill (容灾备份): a base backup, WAL archived after it, and a restore to a point in time into a scratch
cluster that equals the source at that moment — row counts and checksums of every table — and not a moment later;
the restore of the latest state; the file store with it; retention; refusals that say why.

A cluster of its own (the suite's shared one neither archives nor may be restarted), with a small city: points in
CGCS2000, a parent/child pair and rows updated and deleted between the moments compared.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from core.backup import BackupError, BackupSettings, backup, backups, restore
from core.pgcluster import PrivateCluster
from tests.conftest import free_port

DB = "drill"
CITY = """
CREATE TABLE districts (code text PRIMARY KEY, name text NOT NULL, geom geometry(Point, 4490));
CREATE TABLE enterprises (id serial PRIMARY KEY, district_code text REFERENCES districts, name text NOT NULL,
                          risk text, geom geometry(Point, 4490));
INSERT INTO districts SELECT '3299' || lpad(i::text, 2, '0'), '区' || i,
       ST_SetSRID(ST_MakePoint(118.7 + i * 0.05, 32.0), 4490) FROM generate_series(2, 7) i;
"""


def _enterprises(conn: psycopg.Connection, start: int, n: int) -> None:
    conn.execute("INSERT INTO enterprises (district_code, name, risk, geom) SELECT '3299' || lpad((2 + i %% 6)::text, "
                 "2, '0'), '企业' || i, (ARRAY['red','orange','yellow','blue'])[1 + i %% 4], "
                 "ST_SetSRID(ST_MakePoint(118.7 + random() * 0.3, 31.9 + random() * 0.2), 4490) "
                 "FROM generate_series(%s::int, %s::int) i", (start, start + n - 1))


def _state(url: str) -> dict[str, tuple[int, str]]:
    """Every table of the public schema: (rows, md5 of its rows in a fixed order)."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys' "
            "ORDER BY tablename")]
        return {t: conn.execute(f'SELECT count(*), coalesce(md5(string_agg(x::text, \'|\' ORDER BY x::text)), \'\') '
                                f'FROM "{t}" x').fetchone() for t in tables}


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def drill() -> Iterator[SimpleNamespace]:
    root = Path(tempfile.mkdtemp(prefix="onemap-test-backup-", dir="/var/tmp"))
    root.chmod(0o755)  # the postgres user must reach it when the suite runs as root
    files = root / "files"
    (files / "case-files").mkdir(parents=True)
    (files / "case-files" / "ab12.pdf").write_bytes(b"%PDF-1.7 attachment")
    settings = BackupSettings(root / "backups", archive=True, archive_timeout_s=60, keep_full=1,
                              files=(files / "case-files",))
    source = PrivateCluster(root / "source", free_port(), DB, setup=(), durable=False, archive=settings)
    made: list[PrivateCluster] = [source]
    try:
        source.up()
        url = _plain(source.url(dbname=DB))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(CITY)
            _enterprises(conn, 1, 300)

        def scratch(name: str) -> PrivateCluster:
            made.append(PrivateCluster(root / name, free_port(), DB, setup=(), durable=False))
            return made[-1]

        yield SimpleNamespace(source=source, settings=settings, url=url, scratch=scratch, files=files)
    finally:
        for cluster in made:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _archived_through(cluster: PrivateCluster, url: str) -> None:
    """Close the current WAL segment and wait until the archiver has it (what archive_timeout does in time)."""
    superuser = _plain(cluster.url(superuser=True, dbname=DB))
    with psycopg.connect(superuser, autocommit=True) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline = time.monotonic() + 60
        while (conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0] or "") < segment:
            assert time.monotonic() < deadline, "the WAL segment was not archived within 60 s"
            time.sleep(0.1)


def test_restore_to_a_moment_equals_the_source_at_that_moment(drill: SimpleNamespace) -> None:
    first = backup(drill.source, drill.settings)
    assert [b["stamp"] for b in backups(drill.settings)] == [first["stamp"]]
    with psycopg.connect(drill.url, autocommit=True) as conn:
        _enterprises(conn, 301, 200)
        conn.execute("UPDATE enterprises SET risk = 'red' WHERE id % 7 = 0")
    at_t = _state(drill.url)
    with psycopg.connect(drill.url, autocommit=True) as conn:
        moment = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("DELETE FROM enterprises WHERE id % 5 = 0")
        _enterprises(conn, 501, 50)
        conn.execute("UPDATE districts SET name = name || '（新）'")
    latest = _state(drill.url)
    assert latest != at_t and at_t["enterprises"][0] == 500
    _archived_through(drill.source, drill.url)

    to_moment = drill.scratch("at-moment")
    result = restore(drill.settings, drill.source, to_moment, to=moment)
    assert result["backup"] == first["stamp"]
    assert _state(_plain(to_moment.url(dbname=DB))) == at_t
    with psycopg.connect(_plain(to_moment.url(superuser=True, dbname=DB))) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False  # promoted: writable
        assert conn.execute("SHOW archive_mode").fetchone()[0] == "off"  # never into the archive it came from

    newest = drill.scratch("latest")
    restore(drill.settings, drill.source, newest, to=None)
    assert _state(_plain(newest.url(dbname=DB))) == latest

    with tarfile.open(result["files"]) as tar:
        assert tar.extractfile("case-files/ab12.pdf").read() == b"%PDF-1.7 attachment"


def test_backups_are_pruned_and_a_restore_says_why_it_cannot(drill: SimpleNamespace) -> None:
    first = backup(drill.source, drill.settings)
    with psycopg.connect(drill.url, autocommit=True) as conn:
        before_second = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    _archived_through(drill.source, drill.url)
    second = backup(drill.source, drill.settings)
    assert second["removed"] == [first["stamp"]]  # keep_full = 1
    assert [b["stamp"] for b in backups(drill.settings)] == [second["stamp"]]
    kept = sorted(p.name for p in drill.settings.wal_dir.iterdir() if len(p.name.removesuffix(".gz")) == 24)
    assert kept and all(name.removesuffix(".gz")[8:] >= second["wal_start"][8:] for name in kept)
    with pytest.raises(BackupError, match="no base backup finished before"):
        restore(drill.settings, drill.source, drill.scratch("too-early"), to=before_second)
    occupied = drill.scratch("occupied")
    occupied.data.mkdir(parents=True)
    (occupied.data / "PG_VERSION").write_text("15")
    with pytest.raises(BackupError, match="is not empty"):
        restore(drill.settings, drill.source, occupied, to=None)
    no_archive = BackupSettings(drill.settings.dir, archive=False, archive_timeout_s=60, keep_full=1, files=())
    with pytest.raises(BackupError, match="needs the WAL archive"):
        restore(no_archive, drill.source, drill.scratch("no-archive"), to=datetime.now().astimezone())
    # a damaged backup is refused before anything is written
    base = Path(second["dir"]) / "base.tar.gz"
    base.write_bytes(base.read_bytes()[:-100])
    target = drill.scratch("damaged")
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore(drill.settings, drill.source, target, to=None)
    assert not target.data.exists()
