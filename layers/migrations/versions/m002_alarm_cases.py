"""monitoring: an alarm's handling case (报警处置)

Revision ID: m002
Revises: m001
Create Date: 2026-12-07 15:00:00

``monitoring_alarms.case_id``: the case that carries the alarm's closed loop (acknowledge, feedback, clear, close),
opened with the alarm (the alarms of one episode of a sensor share it). Depends on the case engine's tables.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "m002"
down_revision: str | None = "m001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("c002",)


def upgrade() -> None:
    op.execute("ALTER TABLE monitoring_alarms ADD COLUMN case_id bigint REFERENCES cases (id) ON DELETE SET NULL")
    op.execute("COMMENT ON COLUMN monitoring_alarms.case_id IS '报警处置案件'")
    # not unique: the alarms of one episode of a sensor (一级 then 二级) share their case (loop.py)
    op.execute("CREATE INDEX monitoring_alarms_case ON monitoring_alarms (case_id) WHERE case_id IS NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE monitoring_alarms DROP COLUMN case_id")
