"""Attachments: content-addressed files (named by their SHA-256) with a size limit and a type read from the bytes.

An upload is stored once whatever its name (``<files_dir>/ab/cd/<sha256>``), recorded in ``case_files``, and
linked to the event whose form names it (``case_event_files``). The type is sniffed from the first bytes, not
taken from the client: a renamed executable is not a JPEG. A file written before its transaction rolled back is
harmless (nothing links it; the same upload finds it again).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core.config import resolve_path
from core.errors import DomainError, InvalidInput, NotFound
from supervision.cases.definitions import CaseType
from supervision.cases.forms import attachment_fields

SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)


class TooLarge(DomainError):
    http_status = 413
    code = "file_too_large"


def sniff(head: bytes) -> str | None:
    for magic, media_type in SIGNATURES:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def store(conn: Connection, config: Mapping[str, Any], stream: IO[bytes], *, name: str | None,
          uploaded_by: str | None) -> dict[str, Any]:
    limit = int(config["max_file_bytes"])
    root = resolve_path(config["files_dir"])
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 16):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the file is larger than {limit} bytes", f"文件超过 {limit // 1_000_000} MB 上限",
                                   details={"max_bytes": limit})
                if len(head) < 16:
                    head += chunk[:16]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidInput("file", "a non-empty file", details={"reason": "empty"})
        media_type = sniff(head)
        allowed = list(config["media_types"])
        if media_type not in allowed:
            raise InvalidInput("file", "one of " + ", ".join(allowed), value=name or "upload",
                               message_en=f"file type not accepted ({media_type or 'unrecognised content'}); "
                                          f"accepted: {', '.join(allowed)}",
                               message_zh=f"不支持的文件类型（{media_type or '无法识别'}）；支持：{'、'.join(allowed)}",
                               details={"reason": "type not accepted", "media_type": media_type})
        sha = digest.hexdigest()
        final = path_of(root, sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, final)
        tmp = ""
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    conn.execute(text("INSERT INTO case_files (sha256, size, media_type, uploaded_by) VALUES (:s, :n, :m, :u) "
                      "ON CONFLICT (sha256) DO NOTHING"), {"s": sha, "n": size, "m": media_type, "u": uploaded_by})
    return {"sha256": sha, "size": size, "media_type": media_type, "name": name}


def path_of(root: Path, sha: str) -> Path:
    return root / sha[:2] / sha[2:4] / sha


def link(conn: Connection, ct: CaseType, event_id: int, case_id: int, form: Mapping[str, Any], action: str) -> None:
    t = ct.transition(action)
    if t is None:
        return
    for name, many in attachment_fields(t.form).items():
        values = form.get(name)
        for sha in (values or []) if many else ([values] if values else []):
            conn.execute(text("INSERT INTO case_event_files (event_id, sha256, field, case_id) "
                              "VALUES (:e, :s, :f, :c) ON CONFLICT DO NOTHING"),
                         {"e": event_id, "s": sha, "f": name, "c": case_id})


def open_file(conn: Connection, config: Mapping[str, Any], sha: str, case_scope_sql: tuple[str, dict[str, Any]]
              ) -> tuple[Path, str]:
    """The file if a case the caller may read links it (404 otherwise)."""
    where, params = case_scope_sql
    row = conn.execute(text(
        f"SELECT f.media_type FROM case_files f WHERE f.sha256 = :s AND EXISTS (SELECT 1 FROM case_event_files l "
        f"JOIN cases c ON c.id = l.case_id WHERE l.sha256 = f.sha256 AND {where})"), {**params, "s": sha}).first()
    if row is None:
        raise NotFound(f"no file {sha} in a case you may read", "文件不存在或无权查看", details={"sha256": sha})
    return path_of(resolve_path(config["files_dir"]), sha), row.media_type


__all__ = ["TooLarge", "link", "open_file", "sniff", "store"]
