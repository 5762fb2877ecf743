"""monitoring: the hazard sources' warning levels (红/橙/黄/蓝)

Revision ID: m003
Revises: m002
Create Date: 2026-12-07 15:30:00

``hazard_sources.warning_level`` — red/orange/yellow/blue from the hazard source's active alarms
(supervision/monitoring/rules.yaml ``warning_levels``, supervision/monitoring/loop.py), NULL when none. A layer field,
so the map, WMS/WFS, the OGC API and the console all see it; the enum check is written by hand (autogenerate does not
see check constraints).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'm003'
down_revision: str | None = 'm002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('hazard_sources', sa.Column('warning_level', sa.String(length=6), nullable=True, comment='预警等级'))
    op.create_check_constraint(op.f('ck_hazard_sources_warning_level_enum'), 'hazard_sources',
                               "warning_level IN ('red', 'orange', 'yellow', 'blue')")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_hazard_sources_warning_level_enum'), 'hazard_sources', type_='check')
    op.drop_column('hazard_sources', 'warning_level')
