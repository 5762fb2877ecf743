"""kernel: the holiday schedule (workdays, workday_years) and gapless document numbers

Revision ID: k001
Revises: 0001
Create Date: 2026-12-07 07:00:00

A branch of its own (label ``kernel``): the tables of core/workdays_store.py and core/docnumbers.py, declared by
core/kernel_manifest.py. The tables start empty; ``onemap calendar seed`` fills the schedule (it is data the
State Council announces each year, not schema).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "k001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("kernel",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workdays",
        sa.Column("day", sa.Date(), nullable=False, comment="日期"),
        sa.Column("kind", sa.String(length=10), nullable=False,
                  comment="holiday 放假 / workday 调休上班 / normal 按周规则"),
        sa.Column("name", sa.String(length=60), nullable=True, comment="节日名称(春节等)"),
        sa.Column("source", sa.String(length=20), nullable=False, comment="chinese-calendar 或 admin"),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True, comment="修改人(管理员)"),
        sa.CheckConstraint("kind IN ('holiday', 'workday', 'normal')", name="ck_workdays_kind_known"),
        sa.CheckConstraint("source IN ('chinese-calendar', 'admin')", name="ck_workdays_source_known"),
        sa.PrimaryKeyConstraint("day", name="pk_workdays"),
        comment="节假日与调休安排(周一至周五工作日之外的例外)",
    )
    op.create_table(
        "workday_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False, comment="年份"),
        sa.Column("source", sa.String(length=20), nullable=False, comment="chinese-calendar 或 admin"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_workday_years_year_plausible"),
        sa.CheckConstraint("source IN ('chinese-calendar', 'admin')", name="ck_workday_years_source_known"),
        sa.PrimaryKeyConstraint("year", name="pk_workday_years"),
        comment="节假日安排已完整录入的年份",
    )
    op.create_table(
        "document_number_counters",
        sa.Column("doc_type", sa.String(length=40), nullable=False, comment="文书类型"),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False, comment="年度"),
        sa.Column("unit", sa.String(length=40), nullable=False, comment="发文单位代字"),
        sa.Column("last_seq", sa.Integer(), nullable=False, comment="最后一个已用序号"),
        sa.CheckConstraint("last_seq >= 1", name="ck_document_number_counters_last_seq_positive"),
        sa.PrimaryKeyConstraint("doc_type", "year", "unit", name="pk_document_number_counters"),
        comment="文号计数器(每类文书、年度、发文单位一行)",
    )
    op.create_table(
        "document_numbers",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("doc_type", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, comment="序号"),
        sa.Column("number", sa.String(length=80), nullable=False, comment="文号"),
        sa.Column("subject", sa.String(length=80), nullable=True, comment="所属对象(如 case:123)"),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("seq >= 1", name="ck_document_numbers_seq_positive"),
        sa.ForeignKeyConstraint(
            ["doc_type", "year", "unit"],
            ["document_number_counters.doc_type", "document_number_counters.year", "document_number_counters.unit"],
            name="fk_document_numbers_doc_type_year_unit_document_number_counters"),
        sa.PrimaryKeyConstraint("id", name="pk_document_numbers"),
        sa.UniqueConstraint("doc_type", "year", "unit", "seq", name="uq_document_numbers_doc_type_year_unit_seq"),
        sa.UniqueConstraint("number", name="uq_document_numbers_number"),
        comment="已编发的文号",
    )


def downgrade() -> None:
    op.drop_table("document_numbers")
    op.drop_table("document_number_counters")
    op.drop_table("workday_years")
    op.drop_table("workdays")
