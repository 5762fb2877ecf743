"""auth: API tokens may carry the scope ogc:execute (running OGC API processes)

Revision ID: a003
Revises: a002
Create Date: 2026-12-07 06:00:00

The CHECK constraint on ``api_tokens.scopes`` is the database's own list of grantable scopes; it is written out
here as frozen SQL (a migration must not follow later changes of ``app.auth.models.TOKEN_SCOPES``). Downgrading
refuses while a token holds the new scope: silently narrowing a token a user relies on would be worse.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "a003"
down_revision: str | None = "a002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ck_api_tokens_scopes_known"


def upgrade() -> None:
    op.execute(f"ALTER TABLE api_tokens DROP CONSTRAINT {NAME}")
    op.execute(f"ALTER TABLE api_tokens ADD CONSTRAINT {NAME} "
               "CHECK (scopes <@ ARRAY['ogc:read', 'ogc:execute', 'api:read', 'api:write']::varchar[])")


def downgrade() -> None:
    op.execute(f"ALTER TABLE api_tokens DROP CONSTRAINT {NAME}")
    op.execute(f"ALTER TABLE api_tokens ADD CONSTRAINT {NAME} "
               "CHECK (scopes <@ ARRAY['ogc:read', 'api:read', 'api:write']::varchar[])")
