"""complaints: the reporter of a public complaint, and the idempotency keys of the public filing

Revision ID: j001
Revises: 0004
Create Date: 2026-12-08 00:30:00

A branch of its own (label ``complaints``): the tables of supervision/complaints/models.py, declared by the
complaints module's manifest (model_modules). It needs the case engine's ``cases`` (c004 and before).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'j001'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = ('complaints',)
depends_on: str | Sequence[str] | None = ('c004',)


def upgrade() -> None:
    op.create_table('complaints',
    sa.Column('case_id', sa.BigInteger(), nullable=False, comment='举报案件'),
    sa.Column('anonymous', sa.Boolean(), nullable=False, comment='匿名举报'),
    sa.Column('contact_name', sa.String(length=30), nullable=True, comment='举报人姓名（实名举报）'),
    sa.Column('contact_phone', sa.String(length=20), nullable=True, comment='举报人联系电话（实名举报）'),
    sa.Column('query_code_hash', sa.String(length=64), nullable=False, comment='查询码的SHA-256（查询码只显示一次）'),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False, comment='举报时间'),
    sa.CheckConstraint('NOT anonymous OR (contact_name IS NULL AND contact_phone IS NULL)',
                       name=op.f('ck_complaints_anonymous_without_contact')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_complaints_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_complaints')),
    comment='举报人信息（仅市级举报受理人员可见联系方式）'
    )
    op.create_table('complaint_idempotency_keys',
    sa.Column('key_hash', sa.String(length=64), nullable=False, comment='幂等键的SHA-256'),
    sa.Column('request_hash', sa.String(length=64), nullable=False, comment='请求内容的SHA-256'),
    sa.Column('case_id', sa.BigInteger(), nullable=True, comment='由该请求提交的举报'),
    sa.Column('sealed_code', sa.String(length=64), nullable=True, comment='以幂等键加密的查询码'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_complaint_idempotency_keys_case_id_cases')),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_complaint_idempotency_keys')),
    comment='公众举报的幂等键（重试返回首次结果）'
    )


def downgrade() -> None:
    op.drop_table('complaint_idempotency_keys')
    op.drop_table('complaints')
