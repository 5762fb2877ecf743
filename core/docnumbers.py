"""Gapless document numbers (文号) per document type, year and issuing unit: 示应急隐改〔2026〕0012号.

A 文号 is a public register: a number that was issued and then vanished (a rolled-back transaction, a crash between
two statements) looks like a suppressed document. So numbers are not taken from a sequence (sequences are
non-transactional and leave holes by design) but from a counter row updated in the caller's transaction:

    INSERT INTO document_number_counters ... ON CONFLICT DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq

The upsert locks the counter row until the caller's transaction ends; a second issuer of the same type, year and
unit waits for it, then sees the committed value (READ COMMITTED re-reads the conflicting row) or, after a rollback,
the old one, and takes the same number the rolled-back issuer would have had. Issuers of other counters do not wait.
The price is that issuing serialises per counter for the length of the caller's transaction: issue the number last,
just before commit. Every issued number is also recorded in ``document_numbers`` (unique), tying it to its subject.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.engine import Connection

FIELDS = {"unit", "year", "seq"}


def define_tables(metadata: MetaData) -> None:
    Table(
        "document_number_counters", metadata,
        Column("doc_type", String(40), primary_key=True, comment="文书类型"),
        Column("year", Integer, primary_key=True, comment="年度"),
        Column("unit", String(40), primary_key=True, comment="发文单位代字"),
        Column("last_seq", Integer, nullable=False, comment="最后一个已用序号"),
        CheckConstraint("last_seq >= 1", name="last_seq_positive"),
        comment="文号计数器(每类文书、年度、发文单位一行)",
    )
    Table(
        "document_numbers", metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("doc_type", String(40), nullable=False),
        Column("year", Integer, nullable=False),
        Column("unit", String(40), nullable=False),
        Column("seq", Integer, nullable=False, comment="序号"),
        Column("number", String(80), nullable=False, unique=True, comment="文号"),
        Column("subject", String(80), comment="所属对象(如 case:123)"),
        Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        UniqueConstraint("doc_type", "year", "unit", "seq"),
        ForeignKeyConstraint(["doc_type", "year", "unit"], ["document_number_counters.doc_type",
                             "document_number_counters.year", "document_number_counters.unit"]),
        CheckConstraint("seq >= 1", name="seq_positive"),
        comment="已编发的文号",
    )


@dataclass(frozen=True)
class DocumentType:
    """A kind of document and how its numbers read. ``template`` uses ``{unit}`` (the issuing unit's 代字, e.g.
    示应急), ``{year}`` and ``{seq}`` with an optional width: ``"{unit}隐改〔{year}〕{seq:04d}号"``."""

    code: str
    template: str

    def __post_init__(self) -> None:
        if not self.code or len(self.code) > 40:
            raise ValueError(f"document type code {self.code!r} must be 1–40 characters")
        names = set()
        for _literal, name, spec, conversion in string.Formatter().parse(self.template):
            if name is None:
                continue
            if name not in FIELDS or conversion:
                raise ValueError(f"document type {self.code!r}: template field {{{name}}} is not one of "
                                 f"{{unit}}, {{year}}, {{seq}}")
            if spec and not (name == "seq" and re.fullmatch(r"0?[1-9]d?", spec)):
                raise ValueError(f"document type {self.code!r}: format {{{name}:{spec}}} is not allowed (only a "
                                 f"width of the sequence number, like {{seq:04d}})")
            names.add(name)
        # without {year} or {seq} two documents could carry the same number; without {unit} two units could
        if names != FIELDS:
            raise ValueError(f"document type {self.code!r}: template {self.template!r} must contain "
                             f"{', '.join(sorted('{' + f + '}' for f in FIELDS - names))}")

    def format(self, unit: str, year: int, seq: int) -> str:
        return self.template.format(unit=unit, year=year, seq=seq)


@dataclass(frozen=True)
class IssuedNumber:
    doc_type: str
    year: int
    unit: str
    seq: int
    number: str
    issued_at: datetime


def issue(conn: Connection, doc_type: DocumentType, unit: str, on: date, subject: str | None = None) -> IssuedNumber:
    """The next number of ``doc_type`` for ``unit`` in the year of ``on``, inside the caller's open transaction:
    it is consumed only if that transaction commits."""
    if not conn.in_transaction():
        # autocommit would make the number permanent at once, whatever becomes of the document
        raise RuntimeError("issue a document number inside the transaction that records the document")
    unit = unit.strip()
    if not unit or len(unit) > 40:
        raise ValueError(f"issuing unit {unit!r} must be 1–40 characters")
    seq = conn.execute(text(
        "INSERT INTO document_number_counters AS c (doc_type, year, unit, last_seq) VALUES (:t, :y, :u, 1) "
        "ON CONFLICT (doc_type, year, unit) DO UPDATE SET last_seq = c.last_seq + 1 RETURNING c.last_seq"),
        {"t": doc_type.code, "y": on.year, "u": unit}).scalar_one()
    number = doc_type.format(unit, on.year, seq)
    issued_at = conn.execute(text(
        "INSERT INTO document_numbers (doc_type, year, unit, seq, number, subject) "
        "VALUES (:t, :y, :u, :s, :n, :subject) RETURNING issued_at"),
        {"t": doc_type.code, "y": on.year, "u": unit, "s": seq, "n": number, "subject": subject}).scalar_one()
    return IssuedNumber(doc_type.code, on.year, unit, seq, number, issued_at)


__all__ = ["DocumentType", "IssuedNumber", "define_tables", "issue"]
