"""cases: deadlines counted in minutes or hours (an alarm's escalation), due at an instant

Revision ID: c003
Revises: c002
Create Date: 2026-12-07 15:10:00

A clock whose period is ``{minutes: N}`` or ``{hours: N}`` is counted from the instant it started and is due at an
instant: ``case_clocks.started_at``, ``due_at`` and ``warn_at`` hold them (``due_date``/``warn_date`` keep the
China dates of those instants, so the work lists' date filters and ordering still hold); ``cases.due_at`` is the
earliest such instant of the case's live clocks, for the work lists and case pages to show the time.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c003'
down_revision: str | None = 'c002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True,
                                     comment='最近期限时刻(按分钟计的期限)'))
    op.add_column('case_clocks', sa.Column('started_at', sa.DateTime(timezone=True), nullable=True,
                                           comment='开始时刻'))
    op.add_column('case_clocks', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True,
                                           comment='期限时刻(按分钟/小时计的期限)'))
    op.add_column('case_clocks', sa.Column('warn_at', sa.DateTime(timezone=True), nullable=True,
                                           comment='预警时刻(按分钟/小时计的期限)'))


def downgrade() -> None:
    op.drop_column('case_clocks', 'warn_at')
    op.drop_column('case_clocks', 'due_at')
    op.drop_column('case_clocks', 'started_at')
    op.drop_column('cases', 'due_at')
