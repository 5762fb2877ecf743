"""filings: the hazard sources' filing status (备案状态)

Revision ID: f001
Revises: 0004
Create Date: 2026-12-08 00:30:00

``hazard_sources.filing_status`` — filed / overdue / missing, written by the filings module
(supervision/filings/status.py) when a 重大危险源备案 is filed and when its three years run out; ``filing_number`` and
``filing_valid_to`` are the latest filing's. A layer field, so the map, WMS/WFS, the OGC API and the console filter on
it. The server default ('missing') gives every hazard source already on record, and every writer that predates the
module, the status of one never filed; the enum check is written by hand (autogenerate does not see check
constraints).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'f001'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('hazard_sources', sa.Column('filing_status', sa.String(length=8), nullable=False,
                                              server_default='missing', comment='备案状态'))
    op.add_column('hazard_sources', sa.Column('filing_number', sa.String(length=60), nullable=True, comment='备案编号'))
    op.add_column('hazard_sources', sa.Column('filing_valid_to', sa.Date(), nullable=True, comment='备案有效期至'))
    op.create_check_constraint(op.f('ck_hazard_sources_filing_status_enum'), 'hazard_sources',
                               "filing_status IN ('filed', 'overdue', 'missing')")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_hazard_sources_filing_status_enum'), 'hazard_sources', type_='check')
    op.drop_column('hazard_sources', 'filing_valid_to')
    op.drop_column('hazard_sources', 'filing_number')
    op.drop_column('hazard_sources', 'filing_status')
