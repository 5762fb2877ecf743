"""emergency: plans as structured records (GB/T 29639-2020), their versions, activations and incident tasks

Revision ID: e002
Revises: e001
Create Date: 2026-12-08 00:40:00

``emergency_plans`` holds one row per plan (owner, type, current version, approval date and the review date three
years later); ``emergency_plan_versions`` keeps every version's body (levels, triggers, actions, resources), so an
incident keeps the version it activated. ``plan_activations`` records which plan an incident activated at which
level, and ``incident_tasks`` the actions of that level copied into the incident with their deadlines.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'e002'
down_revision: str | None = 'e001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('emergency_plans',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False, comment='预案类型'),
    sa.Column('owner_level', sa.String(length=12), nullable=False, comment='预案所属'),
    sa.Column('district_code', sa.String(length=6), nullable=True, comment='所属区县'),
    sa.Column('enterprise_uscc', sa.String(length=18), nullable=True, comment='所属企业'),
    sa.Column('title', sa.String(length=200), nullable=False, comment='预案名称'),
    sa.Column('version', sa.Integer(), nullable=False, comment='现行版本'),
    sa.Column('approved_on', sa.Date(), nullable=False, comment='批准/发布日期'),
    sa.Column('review_due', sa.Date(), nullable=False, comment='评估期限（三年一评）'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('comprehensive', 'special', 'on_site', 'card')",
                       name=op.f('ck_emergency_plans_kind_enum')),
    sa.CheckConstraint("owner_level IN ('city', 'district', 'enterprise')", name=op.f('ck_emergency_plans_owner_enum')),
    sa.CheckConstraint("(owner_level = 'city' AND district_code IS NULL AND enterprise_uscc IS NULL) OR "
                       "(owner_level = 'district' AND district_code IS NOT NULL AND enterprise_uscc IS NULL) OR "
                       "(owner_level = 'enterprise' AND district_code IS NOT NULL AND enterprise_uscc IS NOT NULL)",
                       name=op.f('ck_emergency_plans_owner_columns')),
    sa.ForeignKeyConstraint(['district_code'], ['districts.code'],
                            name=op.f('fk_emergency_plans_district_code_districts')),
    sa.ForeignKeyConstraint(['enterprise_uscc'], ['enterprises.uscc'],
                            name=op.f('fk_emergency_plans_enterprise_uscc_enterprises')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_plans')),
    comment='应急预案'
    )
    op.create_index('ix_emergency_plans_owner', 'emergency_plans', ['district_code', 'enterprise_uscc'], unique=False)
    op.create_index(op.f('ix_emergency_plans_review_due'), 'emergency_plans', ['review_due'], unique=False)
    op.create_table('emergency_plan_versions',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False, comment='版本'),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='预案内容'),
    sa.Column('actor', sa.String(length=60), nullable=True, comment='修订人'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['emergency_plans.id'],
                            name=op.f('fk_emergency_plan_versions_plan_id_emergency_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_plan_versions')),
    sa.UniqueConstraint('plan_id', 'version', name=op.f('uq_emergency_plan_versions_plan_id_version')),
    comment='应急预案版本'
    )
    op.create_table('plan_activations',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('plan_version', sa.Integer(), nullable=False, comment='启动的预案版本'),
    sa.Column('level', sa.Integer(), nullable=False, comment='启动的响应级别'),
    sa.Column('suggested_level', sa.Integer(), nullable=True, comment='建议响应级别'),
    sa.Column('trigger', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='匹配的启动条件'),
    sa.Column('reason', sa.Text(), nullable=True, comment='理由'),
    sa.Column('actor', sa.String(length=60), nullable=True, comment='启动人'),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=False, comment='启动时间'),
    sa.CheckConstraint('level BETWEEN 1 AND 4', name=op.f('ck_plan_activations_level_range')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'],
                            name=op.f('fk_plan_activations_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_id'], ['emergency_plans.id'],
                            name=op.f('fk_plan_activations_plan_id_emergency_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_activations')),
    sa.UniqueConstraint('incident_id', 'plan_id', name=op.f('uq_plan_activations_incident_id_plan_id')),
    comment='预案启动'
    )
    op.create_index(op.f('ix_plan_activations_incident_id'), 'plan_activations', ['incident_id'], unique=False)
    op.create_index(op.f('ix_plan_activations_plan_id'), 'plan_activations', ['plan_id'], unique=False)
    op.create_table('incident_tasks',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('activation_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False, comment='任务序号'),
    sa.Column('action', sa.Text(), nullable=False, comment='处置措施'),
    sa.Column('owner_role', sa.String(length=60), nullable=False, comment='责任岗位'),
    sa.Column('owner_label', sa.String(length=100), nullable=True, comment='责任岗位名称'),
    sa.Column('time_limit_min', sa.Integer(), nullable=False, comment='时限(分钟)'),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False, comment='完成期限'),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True, comment='完成时间'),
    sa.Column('done_by', sa.String(length=60), nullable=True, comment='完成确认人'),
    sa.CheckConstraint('time_limit_min > 0', name=op.f('ck_incident_tasks_time_limit_positive')),
    sa.CheckConstraint('(done_at IS NULL) = (done_by IS NULL)', name=op.f('ck_incident_tasks_done_with_actor')),
    sa.ForeignKeyConstraint(['activation_id'], ['plan_activations.id'],
                            name=op.f('fk_incident_tasks_activation_id_plan_activations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'],
                            name=op.f('fk_incident_tasks_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_tasks')),
    sa.UniqueConstraint('incident_id', 'seq', name=op.f('uq_incident_tasks_incident_id_seq')),
    comment='事件处置任务（预案启动生成）'
    )
    op.create_index(op.f('ix_incident_tasks_activation_id'), 'incident_tasks', ['activation_id'], unique=False)
    op.create_index(op.f('ix_incident_tasks_incident_id'), 'incident_tasks', ['incident_id'], unique=False)


def downgrade() -> None:
    op.drop_table('incident_tasks')
    op.drop_table('plan_activations')
    op.drop_table('emergency_plan_versions')
    op.drop_index(op.f('ix_emergency_plans_review_due'), table_name='emergency_plans')
    op.drop_index('ix_emergency_plans_owner', table_name='emergency_plans')
    op.drop_table('emergency_plans')
