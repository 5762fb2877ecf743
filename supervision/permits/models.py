"""The permits module's own table: the certificates (许可证) its case types issue.

One row per certificate: its gapless number (core/docnumbers), the enterprise it was issued to (USCC and the name it
had then), the permitted scope, the validity (3 years from the day of issue) and whether it was revoked. Whether a
certificate has *expired* is not stored: it follows from ``valid_to`` and today (China), so a stored status can never
go stale. ``case_id`` is the permit case that issued it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    Text,
)


def define_tables(metadata: MetaData) -> None:
    table = Table(
        "permit_certificates", metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("number", String(60), nullable=False, unique=True, comment="证书编号"),
        Column("kind", String(40), nullable=False, comment="许可类型（案件类型）"),
        Column("case_id", BigInteger, nullable=False, unique=True, comment="许可案件ID"),
        Column("enterprise_uscc", String(18), nullable=False, comment="统一社会信用代码"),
        Column("enterprise_name", String(200), nullable=False, comment="单位名称（发证时）"),
        Column("district_code", String(6), nullable=False, comment="所属区县"),
        Column("scope", Text, nullable=False, comment="许可范围"),
        Column("business_mode", String(20), comment="经营方式"),
        Column("issuer", String(40), nullable=False, comment="发证机关代字"),
        Column("valid_from", Date, nullable=False, comment="有效期起"),
        Column("valid_to", Date, nullable=False, comment="有效期止"),
        Column("issued_at", DateTime(timezone=True), nullable=False, comment="发证时间"),
        Column("issued_by", String(64), comment="发证人"),
        Column("revoked_at", DateTime(timezone=True), comment="撤销（吊销）时间"),
        Column("revoked_by", String(64), comment="撤销人"),
        Column("revoke_reason", Text, comment="撤销理由"),
        CheckConstraint("valid_to > valid_from", name="validity_order"),
        CheckConstraint("(revoked_at IS NULL) = (revoke_reason IS NULL)", name="revoked_with_reason"),
        comment="行政许可证书",
    )
    Index("ix_permit_certificates_enterprise", table.c.enterprise_uscc)


__all__ = ["define_tables"]
