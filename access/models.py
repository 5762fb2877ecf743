"""Tables of authentication, temporary grants and the audit log (migrations ``a001``–``a003``, branch ``auth``).

Identity tables live in the default schema and are declared in ``access/manifest.py`` (model_modules) through
:func:`define_tables`. They deliberately carry no foreign keys to the layer tables (``districts``,
``enterprises``): the demo loader empties those with ``TRUNCATE … CASCADE``, which would silently wipe every
account, token and grant; district codes and USCCs are checked by :mod:`access.authn.users` when written instead.

The audit log lives in its own schema ``audit`` (:data:`AUDIT_METADATA`, not part of the registry metadata):
a table in a schema the application role owns could be dropped by it whatever the table's own privileges, so
the private cluster hands the schema to a separate role (see ``core/pgcluster.py`` and migration ``a001``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

AUDIT_SCHEMA = "audit"
SESSION_STAGES = ("totp", "enrol", "password", "full")
# ogc:execute runs OGC API processes (QGIS Processing, scripts); added by migration a003.
TOKEN_SCOPES = ("ogc:read", "ogc:execute", "api:read", "api:write")
ORGANISATION_KINDS = ("safety_assessment", "testing_inspection", "training", "other")


def _now():  # noqa: ANN202  (a fresh TextClause per column: SQLAlchemy binds each to one column)
    return text("now()")


def define_tables(metadata: MetaData) -> None:
    Table(
        "departments", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("name", String(100), nullable=False, unique=True, comment="部门名称"),
        Column("district_code", String(6), comment="所属区县（空：市级）"),
        Column("parent_id", Integer, ForeignKey("departments.id", ondelete="SET NULL"), comment="上级部门"),
        comment="部门",
    )
    Table(
        "organisations", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("name", String(100), nullable=False, unique=True, comment="机构名称"),
        Column("uscc", String(18), unique=True, comment="统一社会信用代码"),
        Column("kind", String(24), nullable=False, comment="机构类别"),
        CheckConstraint("kind IN ('safety_assessment', 'testing_inspection', 'training', 'other')",
                        name="kind_enum"),
        comment="中介机构",
    )
    Table(
        "roles", metadata,
        Column("name", String(32), primary_key=True),
        Column("label_zh", String(30), nullable=False, comment="名称"),
        comment="角色",
    )
    Table(
        "users", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("username", String(64), nullable=False, unique=True, comment="用户名"),
        Column("display_name", String(100), nullable=False, comment="姓名"),
        Column("department_id", Integer, ForeignKey("departments.id", ondelete="SET NULL"), comment="部门"),
        Column("district_code", String(6), comment="数据范围：区县（空：全市）"),
        Column("enterprise_uscc", String(18), comment="绑定企业统一社会信用代码"),
        Column("organisation_id", Integer, ForeignKey("organisations.id", ondelete="RESTRICT"),
               comment="绑定中介机构"),
        Column("password_hash", Text, nullable=False, comment="口令哈希 (argon2id)"),
        Column("password_changed_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        Column("must_change_password", Boolean, nullable=False, server_default=text("false")),
        # Fernet tokens (access.authn.totp_keys), never the base32 secret itself (migration a002).
        Column("totp_secret", Text, comment="TOTP 密钥（加密）"),
        Column("totp_pending_secret", Text, comment="待确认的 TOTP 密钥（加密）"),
        Column("totp_last_step", BigInteger, comment="最近一次使用的 TOTP 时间步（防重放）"),
        Column("active", Boolean, nullable=False, server_default=text("true"), comment="启用"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        Column("last_login_at", DateTime(timezone=True)),
        CheckConstraint("enterprise_uscc IS NULL OR organisation_id IS NULL", name="one_binding"),
        CheckConstraint("username ~ '^[a-z0-9_.-]{3,64}$'", name="username_format"),
        comment="用户",
    )
    Table(
        "user_roles", metadata,
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        Column("role", String(32), ForeignKey("roles.name", ondelete="RESTRICT"), primary_key=True),
        Column("granted_by", Integer, ForeignKey("users.id", ondelete="SET NULL")),
        Column("granted_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        comment="用户角色",
    )
    Table(
        "password_history", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("password_hash", Text, nullable=False),
        Column("changed_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        comment="历史口令",
    )
    Table(
        "recovery_codes", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("code_hash", String(64), nullable=False, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        Column("used_at", DateTime(timezone=True)),
        comment="一次性恢复码",
    )
    Table(
        "auth_sessions", metadata,
        # sha256 of the cookie value: a leaked table does not hand out live sessions.
        Column("id_hash", String(64), primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("stage", String(10), nullable=False),
        Column("csrf_token", String(64), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        Column("ip", String(45)),
        Column("user_agent", String(300)),
        CheckConstraint("stage IN ('totp', 'enrol', 'password', 'full')", name="stage_enum"),
        comment="登录会话",
    )
    Table(
        "api_tokens", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("name", String(100), nullable=False, comment="用途"),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("prefix", String(12), nullable=False, comment="令牌前缀（用于识别）"),
        Column("scopes", ARRAY(String(20)), nullable=False, comment="授权范围"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        Column("expires_at", DateTime(timezone=True), nullable=False, comment="到期时间"),
        Column("revoked_at", DateTime(timezone=True), comment="撤销时间"),
        Column("last_used_at", DateTime(timezone=True)),
        Column("last_used_ip", String(45)),
        CheckConstraint("scopes <@ ARRAY['ogc:read', 'ogc:execute', 'api:read', 'api:write']::varchar[]",
                        name="scopes_known"),
        comment="API 令牌",
    )
    grants = Table(
        "grants", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("role", String(32), ForeignKey("roles.name", ondelete="RESTRICT"), comment="临时角色"),
        Column("permission", String(64), comment="临时权限"),
        Column("layer", String(64), comment="图层"),
        Column("module", String(64), comment="业务模块"),
        Column("district_code", String(6), comment="区县范围"),
        Column("starts_at", DateTime(timezone=True), nullable=False, comment="生效时间"),
        Column("expires_at", DateTime(timezone=True), nullable=False, comment="失效时间"),
        Column("granted_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), comment="授权人"),
        Column("reason", Text, nullable=False, comment="事由"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
        Column("revoked_at", DateTime(timezone=True), comment="撤销时间"),
        Column("revoked_by", Integer, ForeignKey("users.id", ondelete="SET NULL")),
        CheckConstraint("role IS NOT NULL OR permission IS NOT NULL", name="role_or_permission"),
        CheckConstraint("expires_at > starts_at", name="expires_after_start"),
        CheckConstraint("length(reason) > 0", name="reason_given"),
        comment="临时授权",
    )
    Index("ix_grants_user_id_expires_at", grants.c.user_id, grants.c.expires_at)
    Table(
        "login_failures", metadata,
        # scope 'account' is keyed by the normalised user name *as typed*, so an unknown name locks exactly
        # like a real one and the answer never tells whether an account exists.
        Column("scope", String(10), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("failures", Integer, nullable=False),
        Column("window_started_at", DateTime(timezone=True), nullable=False),
        Column("locked_until", DateTime(timezone=True)),
        CheckConstraint("scope IN ('account', 'ip')", name="scope_enum"),
        comment="登录失败计数",
    )
    buckets = Table(
        "rate_limit_buckets", metadata,
        # Token buckets of access.authn.throttle, shared by every worker. UNLOGGED (migration a002): no WAL, emptied
        # after a crash — which only forgives everyone a little early.
        Column("rule", String(64), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("tokens", Double, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("full_at", DateTime(timezone=True), nullable=False, comment="桶重新装满的时间（此后可删除）"),
        comment="访问频率限制",
        prefixes=["UNLOGGED"],
    )
    Index("ix_rate_limit_buckets_full_at", buckets.c.full_at)


# The audit tables are created by migration a001 with their triggers and privileges; this metadata only
# describes them for queries.
AUDIT_METADATA = MetaData(schema=AUDIT_SCHEMA)
audit_log = Table(
    "audit_log", AUDIT_METADATA,
    Column("id", BigInteger, primary_key=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("user_id", Integer),
    Column("username", String(64)),
    Column("action", String(64), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("object_type", String(64)),
    Column("object_id", String(200)),
    Column("ip", String(45)),
    Column("user_agent", String(300)),
    Column("method", String(10)),
    Column("path", String(500)),
    Column("details", JSONB, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
audit_anchor = Table(
    "audit_anchor", AUDIT_METADATA,
    Column("id", Integer, primary_key=True),
    Column("purged_at", DateTime(timezone=True), nullable=False),
    Column("purged_by", String(64), nullable=False),
    Column("through_id", BigInteger, nullable=False),
    Column("through_hash", String(64), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("archive_sha256", String(64), nullable=False),
    Column("archive_name", String(200), nullable=False),
)
