"""emergency: impact analyses of incidents (辅助决策)

Revision ID: e001
Revises: 0004
Create Date: 2026-12-07 21:40:00

``impact_runs``: one row per consequence analysis of an incident (plume or explosion zones, what lies inside them,
the evacuation proposal). Runs are never overwritten: a re-run after the wind turned is a new row with the next
``seq`` of its incident.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'e001'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = ('impact',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('impact_runs',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False, comment='分析序号'),
    sa.Column('model', sa.String(length=12), nullable=False, comment='模型'),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='模型输入'),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='分析结果'),
    sa.Column('actor', sa.String(length=60), nullable=True, comment='分析人'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("model IN ('plume', 'explosion')", name=op.f('ck_impact_runs_model_enum')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_impact_runs_incident_id_incidents'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impact_runs')),
    sa.UniqueConstraint('incident_id', 'seq', name=op.f('uq_impact_runs_incident_id_seq')),
    comment='事件影响分析（辅助决策）'
    )
    op.create_index(op.f('ix_impact_runs_incident_id'), 'impact_runs', ['incident_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_impact_runs_incident_id'), table_name='impact_runs')
    op.drop_table('impact_runs')
