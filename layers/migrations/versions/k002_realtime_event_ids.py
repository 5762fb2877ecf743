"""kernel: live events across processes: their numbering, and the bodies too large for a notification

Revision ID: k002
Revises: k001
Create Date: 2026-12-07 15:00:00

The PostgreSQL live-event backend (core/realtime_pg.py) numbers every event from this sequence, so the ids of the
events the ingest worker, the background worker and each web worker publish never collide. An event too large for
a NOTIFY payload (8000 bytes) is kept in ``realtime_event_bodies`` for a few minutes and the notification names it.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "k002"
down_revision: str | None = "k001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE realtime_event_seq")
    op.execute("COMMENT ON SEQUENCE realtime_event_seq IS '实时事件编号'")
    op.execute("CREATE TABLE realtime_event_bodies (id bigint PRIMARY KEY, body jsonb NOT NULL, "
               "created_at timestamptz NOT NULL DEFAULT now())")
    op.execute("COMMENT ON TABLE realtime_event_bodies IS '超长实时事件内容(短期保存)'")


def downgrade() -> None:
    op.execute("DROP TABLE realtime_event_bodies")
    op.execute("DROP SEQUENCE realtime_event_seq")
