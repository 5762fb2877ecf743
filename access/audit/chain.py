"""Verifying the audit hash chain, and the retention purge that keeps it verifiable (archive + anchor)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.audit.schema import MIN_RETENTION_DAYS
from core.errors import DomainError

GENESIS = "0" * 64
_CHUNK = 5000


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    head_id: int | None
    head_hash: str
    broken_id: int | None = None
    reason: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.rows} rows, head id {self.head_id}, head hash {self.head_hash}"
        return f"audit chain BROKEN at row {self.broken_id}: {self.reason} ({self.rows} rows checked before it)"


def link(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _rows(conn: Connection) -> Iterator[tuple[int, str, str, str]]:
    after = -1
    while True:
        chunk = conn.execute(text(
            "SELECT a.id, a.prev_hash, a.hash, audit.canonical(a) FROM audit.audit_log a "
            "WHERE a.id > :after ORDER BY a.id LIMIT :n"), {"after": after, "n": _CHUNK}).all()
        if not chunk:
            return
        yield from chunk
        after = chunk[-1][0]


def chain_start(conn: Connection) -> tuple[int, str]:
    """(first expected id, expected prev_hash): after the latest purge anchor, or the genesis."""
    anchor = conn.execute(text("SELECT through_id, through_hash FROM audit.audit_anchor ORDER BY id DESC LIMIT 1")
                          ).first()
    return (anchor[0] + 1, anchor[1]) if anchor else (1, GENESIS)


def verify_chain(conn: Connection) -> ChainReport:
    """Walk every row in id order: ids without gaps, each ``prev_hash`` the previous ``hash``, and each ``hash``
    recomputed from the row's current content. Reports the first row where any of these fails."""
    expected_id, expected_prev = chain_start(conn)
    checked = 0
    head_id = None
    for row_id, prev_hash, stored, canonical in _rows(conn):
        if row_id != expected_id:
            reason = (f"rows {expected_id}–{row_id - 1} are missing" if row_id > expected_id
                      else f"unexpected id (expected {expected_id})")
            return ChainReport(False, checked, head_id, expected_prev, expected_id if row_id > expected_id
                               else row_id, reason)
        if prev_hash != expected_prev:
            return ChainReport(False, checked, head_id, expected_prev, row_id,
                               "prev_hash does not match the previous row's hash")
        if link(prev_hash, canonical) != stored:
            return ChainReport(False, checked, head_id, expected_prev, row_id,
                               "content does not match its hash (the row was altered)")
        checked += 1
        head_id, expected_prev, expected_id = row_id, stored, row_id + 1
    return ChainReport(True, checked, head_id, expected_prev)


# -- retention -------------------------------------------------------------------------------------------------
class PurgeRefused(DomainError):
    http_status = 409
    code = "audit_purge_refused"


@dataclass(frozen=True)
class PurgeResult:
    rows: int
    archive: Path | None
    through_id: int | None


def purge(conn: Connection, retention_days: int, archive_dir: Path, now: datetime | None = None) -> PurgeResult:
    """Archive and delete the rows older than ``retention_days`` (≥ 180), leaving an anchor.

    The archive is JSON lines (header, then ``{id, prev_hash, hash, canonical}`` per row), written and fsynced
    before anything is deleted; its sha256 goes into the anchor, and ``onemap audit verify --archive FILE``
    checks it. A broken chain is never purged: that would destroy the evidence.
    """
    if retention_days < MIN_RETENTION_DAYS:
        raise PurgeRefused(f"retention must be at least {MIN_RETENTION_DAYS} days",
                           f"审计日志至少保留 {MIN_RETENTION_DAYS} 天")
    report = verify_chain(conn)
    if not report.ok:
        raise PurgeRefused(f"refusing to purge a broken chain: {report.summary()}",
                           f"审计日志哈希链已损坏，拒绝清理：第 {report.broken_id} 行")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    through = conn.execute(text("SELECT max(id) FROM audit.audit_log WHERE ts < :cutoff"),
                           {"cutoff": cutoff}).scalar_one()
    if through is None:
        return PurgeResult(0, None, None)
    first_id, first_prev = chain_start(conn)
    archive_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    path = archive_dir / f"audit-{first_id:012d}-{through:012d}-{stamp}.jsonl"
    digest = hashlib.sha256()
    with path.open("w", encoding="utf-8") as out:
        def write(obj: dict) -> None:
            line = json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n"
            digest.update(line.encode("utf-8"))
            out.write(line)

        write({"onemap_audit_archive": 1, "first_id": first_id, "prev_hash": first_prev, "through_id": through})
        for row_id, prev_hash, stored, canonical in _rows(conn):
            if row_id > through:
                break
            write({"id": row_id, "prev_hash": prev_hash, "hash": stored, "canonical": canonical})
        out.flush()
        os.fsync(out.fileno())
    path.chmod(0o440)
    rows = conn.execute(text("SELECT audit.purge(:through, :sha, :name)"),
                        {"through": through, "sha": digest.hexdigest(), "name": path.name}).scalar_one()
    return PurgeResult(rows, path, through)


def verify_archive(path: Path) -> ChainReport:
    """Check an archive file on its own: every row links to the previous one and matches its hash."""
    with path.open(encoding="utf-8") as lines:
        header = json.loads(next(lines))
        expected_id, expected_prev = header["first_id"], header["prev_hash"]
        checked, head_id = 0, None
        for line in lines:
            row = json.loads(line)
            if row["id"] != expected_id or row["prev_hash"] != expected_prev:
                return ChainReport(False, checked, head_id, expected_prev, row["id"], "broken link in the archive")
            if link(row["prev_hash"], row["canonical"]) != row["hash"]:
                return ChainReport(False, checked, head_id, expected_prev, row["id"], "row altered in the archive")
            checked += 1
            head_id, expected_prev, expected_id = row["id"], row["hash"], row["id"] + 1
    return ChainReport(True, checked, head_id, expected_prev)
