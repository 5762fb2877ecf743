"""The records module's own table: the change history of enterprise and hazard-source records.

One row per event (created, updated, deactivated, reactivated, regraded) with who, when, where from (the API, an
import, an approved change request) and the changed fields old → new. ``version`` is the record's version after
the event: an edit names the version it was based on and is refused (409) when another edit came first. Rows made
before the records module (the demo city, older loaders) have no history and are version 0.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB

KINDS = ("enterprise", "hazard_source")
ACTIONS = ("created", "updated", "deactivated", "reactivated", "regraded")
SOURCES = ("api", "import", "change_request")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def define_tables(metadata: MetaData) -> None:
    table = Table(
        "record_history", metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("record_kind", String(16), nullable=False, comment="档案类型"),
        Column("record_key", String(20), nullable=False, comment="统一社会信用代码或危险源编码"),
        Column("version", Integer, nullable=False, comment="变更后的档案版本"),
        Column("action", String(16), nullable=False, comment="变更类型"),
        Column("changes", JSONB, nullable=False, comment="变更字段(原值→新值)"),
        Column("actor", String(64), nullable=False, comment="操作人"),
        Column("source", String(16), nullable=False, comment="来源: api 接口 / import 导入 / change_request 变更申请"),
        Column("case_id", BigInteger, comment="变更申请案件ID"),
        Column("district_code", String(6), comment="变更后所属区县"),
        Column("enterprise_uscc", String(18), comment="所属单位"),
        Column("at", DateTime(timezone=True), nullable=False, comment="变更时间"),
        CheckConstraint(_in("record_kind", KINDS), name="record_kind_enum"),
        CheckConstraint(_in("action", ACTIONS), name="action_enum"),
        CheckConstraint(_in("source", SOURCES), name="source_enum"),
        CheckConstraint("version >= 1", name="version_positive"),
        comment="企业与重大危险源档案变更记录",
    )
    Index("ix_record_history_record", table.c.record_kind, table.c.record_key, table.c.version)


__all__ = ["ACTIONS", "KINDS", "SOURCES", "define_tables"]
