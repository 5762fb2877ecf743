"""permits: the certificates issued by permit cases

Revision ID: p001
Revises: 0004
Create Date: 2026-12-07 22:00:00

A branch of its own (label ``permits``): the table of supervision/permits/models.py, declared by the permits
module's manifest (model_modules).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'p001'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = ("permits",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('permit_certificates',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False, comment='证书编号'),
    sa.Column('kind', sa.String(length=40), nullable=False, comment='许可类型（案件类型）'),
    sa.Column('case_id', sa.BigInteger(), nullable=False, comment='许可案件ID'),
    sa.Column('enterprise_uscc', sa.String(length=18), nullable=False, comment='统一社会信用代码'),
    sa.Column('enterprise_name', sa.String(length=200), nullable=False, comment='单位名称（发证时）'),
    sa.Column('district_code', sa.String(length=6), nullable=False, comment='所属区县'),
    sa.Column('scope', sa.Text(), nullable=False, comment='许可范围'),
    sa.Column('business_mode', sa.String(length=20), nullable=True, comment='经营方式'),
    sa.Column('issuer', sa.String(length=40), nullable=False, comment='发证机关代字'),
    sa.Column('valid_from', sa.Date(), nullable=False, comment='有效期起'),
    sa.Column('valid_to', sa.Date(), nullable=False, comment='有效期止'),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False, comment='发证时间'),
    sa.Column('issued_by', sa.String(length=64), nullable=True, comment='发证人'),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True, comment='撤销（吊销）时间'),
    sa.Column('revoked_by', sa.String(length=64), nullable=True, comment='撤销人'),
    sa.Column('revoke_reason', sa.Text(), nullable=True, comment='撤销理由'),
    sa.CheckConstraint('(revoked_at IS NULL) = (revoke_reason IS NULL)',
                       name=op.f('ck_permit_certificates_revoked_with_reason')),
    sa.CheckConstraint('valid_to > valid_from', name=op.f('ck_permit_certificates_validity_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_permit_certificates')),
    sa.UniqueConstraint('case_id', name=op.f('uq_permit_certificates_case_id')),
    sa.UniqueConstraint('number', name=op.f('uq_permit_certificates_number')),
    comment='行政许可证书'
    )
    op.create_index('ix_permit_certificates_enterprise', 'permit_certificates', ['enterprise_uscc'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_permit_certificates_enterprise', table_name='permit_certificates')
    op.drop_table('permit_certificates')
