"""auth: TOTP secrets encrypted at rest; rate-limit buckets shared by every worker

Revision ID: a002
Revises: a001
Create Date: 2026-12-02 09:00:00

``users.totp_secret`` and ``users.totp_pending_secret`` become wide enough for a Fernet token and every clear
base32 secret already stored is encrypted with the configured key (``auth.totp.key_file`` / ``key_env``, see
:mod:`app.auth.totp_keys`; the key file is created 0600 if there is none), which the runner hands over as
``config.attributes["totp_keys"]``. The key is only looked for when there
is something to encrypt, so migrating an empty database needs none. Downgrading decrypts them again.

``rate_limit_buckets`` is UNLOGGED: counters need no crash safety, and writing them to the WAL on every limited
request would cost more than the limit saves.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "a002"
down_revision: str | None = "a001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("totp_secret", "totp_pending_secret")
COMMENTS = {"totp_secret": "TOTP 密钥", "totp_pending_secret": "待确认的 TOTP 密钥"}


def _keys():  # noqa: ANN202
    """The deployment's key ring (``seal``/``open``), handed over by the runner (``layers.migrate``): a key is
    deployment data, not code, and a migration imports no application code."""
    factory = context.config.attributes.get("totp_keys")
    if factory is None:
        raise RuntimeError("run migrations through `onemap db migrate` (layers.migrate supplies the TOTP key ring)")
    return factory()


def _rewrite(transform, where: str) -> int:  # noqa: ANN001
    """Apply ``transform`` to every stored secret matching ``where``; returns how many values changed."""
    bind = op.get_bind()
    changed = 0
    keys = None
    for column in COLUMNS:
        rows = bind.execute(sa.text(f"SELECT id, {column} AS value FROM users WHERE {column} IS NOT NULL "
                                    f"AND {where.format(column=column)} FOR UPDATE")).all()
        for row in rows:
            keys = keys or _keys()
            bind.execute(sa.text(f"UPDATE users SET {column} = :v WHERE id = :id"),
                         {"v": transform(keys, row.value), "id": row.id})
            changed += 1
    return changed


def upgrade() -> None:
    for column in COLUMNS:
        op.alter_column("users", column, type_=sa.Text(), existing_type=sa.String(length=64), existing_nullable=True,
                        comment=COMMENTS[column] + "（加密）", existing_comment=COMMENTS[column])
    _rewrite(lambda keys, value: keys.seal(keys.open(value)), "{column} NOT LIKE 'gAAAAA%'")
    op.create_table(
        "rate_limit_buckets",
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("full_at", sa.DateTime(timezone=True), nullable=False, comment="桶重新装满的时间（此后可删除）"),
        sa.PrimaryKeyConstraint("rule", "key", name=op.f("pk_rate_limit_buckets")),
        comment="访问频率限制",
        prefixes=["UNLOGGED"],
    )
    op.create_index("ix_rate_limit_buckets_full_at", "rate_limit_buckets", ["full_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rate_limit_buckets_full_at", table_name="rate_limit_buckets")
    op.drop_table("rate_limit_buckets")
    _rewrite(lambda keys, value: keys.open(value), "{column} LIKE 'gAAAAA%'")
    for column in COLUMNS:
        op.alter_column("users", column, type_=sa.String(length=64), existing_type=sa.Text(), existing_nullable=True,
                        comment=COMMENTS[column], existing_comment=COMMENTS[column] + "（加密）")
