"""The complaints module's own tables: who filed a complaint and how they follow it, kept apart from the case.

The case (``cases``, case type ``complaint``) holds what was reported about a place; everything about the reporter
lives here, where the case API, the case pages, the work lists, the events and the OGC services never look:
whether they chose anonymity, their contact when they gave one (an anonymous complaint stores none: a CHECK says
so), and the hash of their private query code. ``complaint_idempotency_keys`` makes a retried filing return the
first one's answer: the key is stored hashed, and the query code sealed with the key itself (only the holder of
the key can read it again).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    MetaData,
    String,
    Table,
    func,
)


def define_tables(metadata: MetaData) -> None:
    Table(
        "complaints", metadata,
        Column("case_id", BigInteger, ForeignKey("cases.id"), primary_key=True, comment="举报案件"),
        Column("anonymous", Boolean, nullable=False, comment="匿名举报"),
        Column("contact_name", String(30), comment="举报人姓名（实名举报）"),
        Column("contact_phone", String(20), comment="举报人联系电话（实名举报）"),
        Column("query_code_hash", String(64), nullable=False, comment="查询码的SHA-256（查询码只显示一次）"),
        Column("filed_at", DateTime(timezone=True), nullable=False, comment="举报时间"),
        CheckConstraint("NOT anonymous OR (contact_name IS NULL AND contact_phone IS NULL)",
                        name="anonymous_without_contact"),
        comment="举报人信息（仅市级举报受理人员可见联系方式）",
    )
    Table(
        "complaint_idempotency_keys", metadata,
        Column("key_hash", String(64), primary_key=True, comment="幂等键的SHA-256"),
        Column("request_hash", String(64), nullable=False, comment="请求内容的SHA-256"),
        Column("case_id", BigInteger, ForeignKey("cases.id"), comment="由该请求提交的举报"),
        Column("sealed_code", String(64), comment="以幂等键加密的查询码"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        comment="公众举报的幂等键（重试返回首次结果）",
    )


__all__ = ["define_tables"]
