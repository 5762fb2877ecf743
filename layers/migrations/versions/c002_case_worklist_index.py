"""cases: a covering index of open cases for the work lists and their counts

Revision ID: c002
Revises: c001
Create Date: 2026-12-07 09:20:00

Every work list and count reads the open cases within the caller's scope (``closed_at IS NULL``, by district or
enterprise) and filters them on case type, state, due and warning dates and the overdue flag. With 10,000 open
cases and 43,000 in all (bench/cases_bench.py), each such count was a bitmap heap scan visiting every open case's
row (10–33 ms apiece, four per ``/api/cases/counts``). This partial index carries exactly those columns, so the
counts are index-only scans of the open cases, and the district's ordered ``todo`` page starts from the due-date
index instead of sorting the whole district.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c002'
down_revision: str | None = 'c001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_cases_open_worklist', 'cases', ['district_code', 'case_type', 'state'], unique=False,
                    postgresql_include=['enterprise_uscc', 'due_date', 'warn_date', 'overdue'],
                    postgresql_where=sa.text('closed_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_cases_open_worklist', table_name='cases', postgresql_where=sa.text('closed_at IS NULL'))
