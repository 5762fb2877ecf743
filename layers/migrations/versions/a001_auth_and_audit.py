"""auth: users, roles, sessions, API tokens, temporary grants; the append-only, hash-chained audit log

Revision ID: a001
Revises: 0001
Create Date: 2026-11-28 12:00:00

A branch of its own (label ``auth``); ``layers.migrate.upgrade`` upgrades every head. The audit schema is
plain SQL (triggers, functions and privileges that autogenerate cannot express), copied here from
:mod:`app.auth.audit_db` as it was when this revision was written: a migration must keep meaning what it meant;
on a hardened database downgrading past this revision needs a superuser, because the application role no longer
owns the audit schema — that is the point.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("auth",)
depends_on: str | Sequence[str] | None = None

# A copy, not an import of core.identity.ROLES: a migration must keep meaning what it meant when written.
ROLES = [
    ("system_admin", "系统管理员"), ("security_admin", "安全管理员"), ("auditor", "安全审计员"),
    ("city_regulator", "市级监管人员"), ("district_regulator", "区县监管人员"), ("dispatcher", "调度员"),
    ("grid_worker", "网格员"), ("enterprise_user", "企业用户"), ("intermediary_user", "中介机构用户"),
    ("public", "公众"),
]

SEPARATION_SQL = """
CREATE FUNCTION user_roles_separation_of_duties() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- 三权分立: no account combines two of system_admin, security_admin and auditor. The user row is locked so
    -- two concurrent grants to one account cannot both pass the check.
    IF NEW.role IN ('system_admin', 'security_admin', 'auditor') THEN
        PERFORM 1 FROM users WHERE id = NEW.user_id FOR UPDATE;
        IF EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = NEW.user_id AND r.role <> NEW.role
                   AND r.role IN ('system_admin', 'security_admin', 'auditor')) THEN
            RAISE EXCEPTION 'separation of duties: user % cannot also hold %', NEW.user_id, NEW.role
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER user_roles_separation_of_duties BEFORE INSERT OR UPDATE ON user_roles
    FOR EACH ROW EXECUTE FUNCTION user_roles_separation_of_duties();
"""


# A copy, not an import of app.auth.audit_db.SCHEMA_SQL / DROP_SQL (see the module docstring).
SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE audit.audit_log (
    id          bigint PRIMARY KEY,
    ts          timestamptz NOT NULL,
    user_id     integer,
    username    varchar(64),
    action      varchar(64) NOT NULL,
    outcome     varchar(10) NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    object_type varchar(64),
    object_id   varchar(200),
    ip          varchar(45),
    user_agent  varchar(300),
    method      varchar(10),
    path        varchar(500),
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash   varchar(64) NOT NULL,
    hash        varchar(64) NOT NULL
);
COMMENT ON TABLE audit.audit_log IS '审计日志（只追加，哈希链）';
CREATE INDEX ix_audit_log_ts ON audit.audit_log (ts);
CREATE INDEX ix_audit_log_user_id_ts ON audit.audit_log (user_id, ts);
CREATE INDEX ix_audit_log_action_ts ON audit.audit_log (action, ts);
CREATE INDEX ix_audit_log_object ON audit.audit_log (object_type, object_id);

CREATE TABLE audit.audit_anchor (
    id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purged_at      timestamptz NOT NULL,
    purged_by      varchar(64) NOT NULL,
    through_id     bigint NOT NULL,
    through_hash   varchar(64) NOT NULL,
    rows           bigint NOT NULL,
    archive_sha256 varchar(64) NOT NULL,
    archive_name   varchar(200) NOT NULL
);
COMMENT ON TABLE audit.audit_anchor IS '审计日志归档锚点';

CREATE FUNCTION audit.canonical(r audit.audit_log) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'id', r.id, 'ts', to_char(r.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'user_id', r.user_id, 'username', r.username, 'action', r.action, 'outcome', r.outcome,
        'object_type', r.object_type, 'object_id', r.object_id, 'ip', r.ip, 'user_agent', r.user_agent,
        'method', r.method, 'path', r.path, 'details', r.details)::text
$$;

CREATE FUNCTION audit.chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last_id bigint;
    last_hash text;
    last_ts timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(7166117100);
    SELECT a.id, a.hash, a.ts INTO last_id, last_hash, last_ts FROM audit.audit_log a ORDER BY a.id DESC LIMIT 1;
    IF last_id IS NULL THEN
        SELECT x.through_id, x.through_hash INTO last_id, last_hash
        FROM audit.audit_anchor x ORDER BY x.id DESC LIMIT 1;
    END IF;
    NEW.id := coalesce(last_id, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, repeat('0', 64));
    IF NEW.ts IS NULL THEN
        NEW.ts := greatest(clock_timestamp(), last_ts);
    ELSIF NEW.ts > clock_timestamp() OR NEW.ts < last_ts THEN
        RAISE EXCEPTION 'audit_log timestamps must not go backwards or into the future'
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.details := coalesce(NEW.details, '{}'::jsonb);
    NEW.hash := encode(sha256(convert_to(NEW.prev_hash || audit.canonical(NEW), 'UTF8')), 'hex');
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit.audit_log FOR EACH ROW EXECUTE FUNCTION audit.chain();

CREATE FUNCTION audit.forbid_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_log'
            AND current_setting('onemap.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit.audit_log
    FOR EACH ROW EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER audit_anchor_append_only BEFORE UPDATE OR DELETE ON audit.audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit.audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change();

CREATE FUNCTION audit.purge(through bigint, archive_sha256 text, archive_name text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    through_ts timestamptz;
    through_hash text;
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7166117100);
    SELECT a.ts, a.hash INTO through_ts, through_hash FROM audit.audit_log a WHERE a.id = through;
    IF through_ts IS NULL THEN
        RAISE EXCEPTION 'audit row % does not exist', through USING ERRCODE = 'no_data_found';
    END IF;
    IF through_ts > clock_timestamp() - interval '180 days' THEN
        RAISE EXCEPTION 'audit rows younger than 180 days are kept' USING ERRCODE = 'check_violation';
    END IF;
    IF archive_sha256 !~ '^[0-9a-f]{64}$' OR coalesce(archive_name, '') = '' THEN
        RAISE EXCEPTION 'an archive digest and name are required' USING ERRCODE = 'check_violation';
    END IF;
    PERFORM set_config('onemap.audit_purge', 'on', true);
    DELETE FROM audit.audit_log WHERE id <= through;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('onemap.audit_purge', 'off', true);
    INSERT INTO audit.audit_anchor (purged_at, purged_by, through_id, through_hash, rows, archive_sha256,
                                    archive_name)
    VALUES (clock_timestamp(), session_user, through, through_hash, n, archive_sha256, archive_name);
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION audit.purge(bigint, text, text) FROM PUBLIC;

-- Without the hand-over to onemap_audit these only guard against accidents (an owner can grant itself back).
REVOKE UPDATE, TRUNCATE, REFERENCES, TRIGGER ON audit.audit_log, audit.audit_anchor FROM PUBLIC, CURRENT_USER;
"""

DROP_SQL = "DROP SCHEMA IF EXISTS audit CASCADE"


def _run_script(script: str) -> None:
    """A multi-statement script as-is: through the driver without parameters, so ``%`` and ``:`` stay literal."""
    op.get_bind().connection.dbapi_connection.cursor().execute(script)


def upgrade() -> None:
# ### commands auto generated by Alembic - please adjust! ###
    op.create_table('departments',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False, comment='部门名称'),
    sa.Column('district_code', sa.String(length=6), nullable=True, comment='所属区县（空：市级）'),
    sa.Column('parent_id', sa.Integer(), nullable=True, comment='上级部门'),
    sa.ForeignKeyConstraint(['parent_id'], ['departments.id'], name=op.f('fk_departments_parent_id_departments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('name', name=op.f('uq_departments_name')),
    comment='部门'
    )
    op.create_table('login_failures',
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("scope IN ('account', 'ip')", name=op.f('ck_login_failures_scope_enum')),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_login_failures')),
    comment='登录失败计数'
    )
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False, comment='机构名称'),
    sa.Column('uscc', sa.String(length=18), nullable=True, comment='统一社会信用代码'),
    sa.Column('kind', sa.String(length=24), nullable=False, comment='机构类别'),
    sa.CheckConstraint("kind IN ('safety_assessment', 'testing_inspection', 'training', 'other')", name=op.f('ck_organisations_kind_enum')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('name', name=op.f('uq_organisations_name')),
    sa.UniqueConstraint('uscc', name=op.f('uq_organisations_uscc')),
    comment='中介机构'
    )
    op.create_table('roles',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('label_zh', sa.String(length=30), nullable=False, comment='名称'),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_roles')),
    comment='角色'
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False, comment='用户名'),
    sa.Column('display_name', sa.String(length=100), nullable=False, comment='姓名'),
    sa.Column('department_id', sa.Integer(), nullable=True, comment='部门'),
    sa.Column('district_code', sa.String(length=6), nullable=True, comment='数据范围：区县（空：全市）'),
    sa.Column('enterprise_uscc', sa.String(length=18), nullable=True, comment='绑定企业统一社会信用代码'),
    sa.Column('organisation_id', sa.Integer(), nullable=True, comment='绑定中介机构'),
    sa.Column('password_hash', sa.Text(), nullable=False, comment='口令哈希 (argon2id)'),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=True, comment='TOTP 密钥'),
    sa.Column('totp_pending_secret', sa.String(length=64), nullable=True, comment='待确认的 TOTP 密钥'),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True, comment='最近一次使用的 TOTP 时间步（防重放）'),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False, comment='启用'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("username ~ '^[a-z0-9_.-]{3,64}$'", name=op.f('ck_users_username_format')),
    sa.CheckConstraint('enterprise_uscc IS NULL OR organisation_id IS NULL', name=op.f('ck_users_one_binding')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_users_department_id_departments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_users_organisation_id_organisations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username')),
    comment='用户'
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False, comment='用途'),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False, comment='令牌前缀（用于识别）'),
    sa.Column('scopes', postgresql.ARRAY(sa.String(length=20)), nullable=False, comment='授权范围'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False, comment='到期时间'),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True, comment='撤销时间'),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_ip', sa.String(length=45), nullable=True),
    sa.CheckConstraint("scopes <@ ARRAY['ogc:read', 'api:read', 'api:write']::varchar[]", name=op.f('ck_api_tokens_scopes_known')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
    comment='API 令牌'
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.create_table('auth_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=10), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.CheckConstraint("stage IN ('totp', 'enrol', 'password', 'full')", name=op.f('ck_auth_sessions_stage_enum')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auth_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_auth_sessions')),
    comment='登录会话'
    )
    op.create_index(op.f('ix_auth_sessions_user_id'), 'auth_sessions', ['user_id'], unique=False)
    op.create_table('grants',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=True, comment='临时角色'),
    sa.Column('permission', sa.String(length=64), nullable=True, comment='临时权限'),
    sa.Column('layer', sa.String(length=64), nullable=True, comment='图层'),
    sa.Column('module', sa.String(length=64), nullable=True, comment='业务模块'),
    sa.Column('district_code', sa.String(length=6), nullable=True, comment='区县范围'),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False, comment='生效时间'),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False, comment='失效时间'),
    sa.Column('granted_by', sa.Integer(), nullable=True, comment='授权人'),
    sa.Column('reason', sa.Text(), nullable=False, comment='事由'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True, comment='撤销时间'),
    sa.Column('revoked_by', sa.Integer(), nullable=True),
    sa.CheckConstraint('expires_at > starts_at', name=op.f('ck_grants_expires_after_start')),
    sa.CheckConstraint('length(reason) > 0', name=op.f('ck_grants_reason_given')),
    sa.CheckConstraint('role IS NOT NULL OR permission IS NOT NULL', name=op.f('ck_grants_role_or_permission')),
    sa.ForeignKeyConstraint(['granted_by'], ['users.id'], name=op.f('fk_grants_granted_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by'], ['users.id'], name=op.f('fk_grants_revoked_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['role'], ['roles.name'], name=op.f('fk_grants_role_roles'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_grants_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grants')),
    comment='临时授权'
    )
    op.create_index('ix_grants_user_id_expires_at', 'grants', ['user_id', 'expires_at'], unique=False)
    op.create_table('password_history',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_history_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_history')),
    comment='历史口令'
    )
    op.create_index(op.f('ix_password_history_user_id'), 'password_history', ['user_id'], unique=False)
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash')),
    comment='一次性恢复码'
    )
    op.create_index(op.f('ix_recovery_codes_user_id'), 'recovery_codes', ['user_id'], unique=False)
    op.create_table('user_roles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('granted_by', sa.Integer(), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['granted_by'], ['users.id'], name=op.f('fk_user_roles_granted_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['role'], ['roles.name'], name=op.f('fk_user_roles_role_roles'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_roles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_user_roles')),
    comment='用户角色'
    )
    roles = sa.table("roles", sa.column("name", sa.String), sa.column("label_zh", sa.String))
    op.bulk_insert(roles, [{"name": n, "label_zh": label} for n, label in ROLES])
    _run_script(SEPARATION_SQL)
    _run_script(SCHEMA_SQL)
    # Installed by the private cluster set-up (a superuser) when it could: hand the audit schema to its own role.
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT to_regprocedure('public.onemap_harden_audit()')").scalar() is not None:
        bind.exec_driver_sql("SELECT public.onemap_harden_audit()")


def downgrade() -> None:
    _run_script(DROP_SQL)
    op.drop_table("user_roles")
    _run_script("DROP FUNCTION IF EXISTS user_roles_separation_of_duties()")
    op.drop_table("recovery_codes")
    op.drop_table("password_history")
    op.drop_table("grants")
    op.drop_table("auth_sessions")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("roles")
    op.drop_table("organisations")
    op.drop_table("login_failures")
    op.drop_table("departments")
