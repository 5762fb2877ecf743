"""cases: an application is opened once per Idempotency-Key of its submitter

Revision ID: c004
Revises: c003
Create Date: 2026-12-07 22:00:00

``POST /api/cases`` with an ``Idempotency-Key`` header claims the key in the transaction that opens the case; a
repeated submission (a double click, a retry after a lost answer) gets the same case back instead of a second one.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c004'
down_revision: str | None = 'c003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('case_idempotency_keys',
    sa.Column('username', sa.String(length=64), nullable=False, comment='提交人'),
    sa.Column('key', sa.String(length=200), nullable=False, comment='幂等键(Idempotency-Key)'),
    sa.Column('request_hash', sa.String(length=64), nullable=False, comment='请求内容的SHA-256'),
    sa.Column('case_id', sa.BigInteger(), nullable=True, comment='由该请求发起的案件'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_idempotency_keys_case_id_cases')),
    sa.PrimaryKeyConstraint('username', 'key', name=op.f('pk_case_idempotency_keys')),
    comment='发起案件的幂等键(同一用户同一键只发起一次)'
    )


def downgrade() -> None:
    op.drop_table('case_idempotency_keys')
