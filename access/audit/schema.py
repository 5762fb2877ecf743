"""The audit log inside PostgreSQL: append-only, hash-chained, owned by a role the application cannot become.

Used by migration ``a001`` (schema, tables, triggers, purge function) and by the private cluster set-up
(``core/pgcluster.py``: the owner role and the hardening function, which need a superuser).

Why each piece exists:

* ``audit.chain()`` — a BEFORE INSERT trigger that takes an advisory lock, then assigns the row id, the
  timestamp and ``prev_hash`` and computes ``hash = sha256(prev_hash || audit.canonical(row))``. Clients cannot
  choose any of them, and concurrent writers are serialised so the chain order is the id order.
* ``audit.canonical(row)`` — the row as ``jsonb::text``: PostgreSQL's jsonb output is deterministic, so the
  verifier recomputes exactly the text that was hashed from the stored columns.
* ``audit.forbid_change()`` — UPDATE, DELETE and TRUNCATE raise, for every role, superusers included (they can
  disable a trigger, which is what the tamper test does).
* ``audit.purge(...)`` — the only way rows leave: a SECURITY DEFINER function that deletes a prefix of the chain
  older than 180 days (a floor no configuration can lower) and records an anchor (last purged hash + archive
  digest) so the remaining chain still verifies.
* Ownership: an object's owner can drop its triggers and re-grant itself any privilege, and a schema's owner can
  drop any table in it. So the ``audit`` schema and everything in it are handed to ``onemap_audit`` (NOLOGIN, no
  members), and the application role keeps USAGE on the schema, SELECT on its tables and INSERT on
  ``audit.audit_log`` only. The hand-over needs a superuser: :data:`HARDEN_SQL` installs
  ``public.onemap_harden_audit()`` (SECURITY DEFINER, no arguments, fixed behaviour), which migrations call
  when it exists. Where no superuser ever ran it (an existing server behind ``DATABASE_URL``), the log is still
  trigger-protected and hash-chained, and ``onemap audit harden-sql`` prints the statements for the DBA.
"""

from __future__ import annotations

from typing import Any

AUDIT_OWNER_ROLE = "onemap_audit"
LOCK_KEY = 7_166_117_100  # pg_advisory_xact_lock key of the audit chain ("om" "audit" in spirit)
MIN_RETENTION_DAYS = 180  # GB/T 22239-2019 8.1.4.3 / 网络安全法 第二十一条: logs kept at least six months

SCHEMA_SQL = f"""
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
    details     jsonb NOT NULL DEFAULT '{{}}'::jsonb,
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
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
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
    NEW.details := coalesce(NEW.details, '{{}}'::jsonb);
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
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    SELECT a.ts, a.hash INTO through_ts, through_hash FROM audit.audit_log a WHERE a.id = through;
    IF through_ts IS NULL THEN
        RAISE EXCEPTION 'audit row % does not exist', through USING ERRCODE = 'no_data_found';
    END IF;
    IF through_ts > clock_timestamp() - interval '{MIN_RETENTION_DAYS} days' THEN
        RAISE EXCEPTION 'audit rows younger than {MIN_RETENTION_DAYS} days are kept' USING ERRCODE = 'check_violation';
    END IF;
    IF archive_sha256 !~ '^[0-9a-f]{{64}}$' OR coalesce(archive_name, '') = '' THEN
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

# Installed by a superuser (private cluster set-up or a DBA). Fixed behaviour, no arguments: calling it can only
# move the audit schema out of the application's reach, never anything else.
HARDEN_SQL = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{AUDIT_OWNER_ROLE}') THEN
        CREATE ROLE {AUDIT_OWNER_ROLE} NOLOGIN;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION public.onemap_harden_audit() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- The application role is the database's owner (as the private cluster and the test fixtures create it).
    app name := (SELECT pg_get_userbyid(d.datdba) FROM pg_database d WHERE d.datname = current_database());
    obj record;
BEGIN
    IF to_regclass('audit.audit_log') IS NULL THEN
        RETURN false;
    END IF;
    ALTER SCHEMA audit OWNER TO {AUDIT_OWNER_ROLE};
    FOR obj IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'audit' AND c.relkind IN ('r', 'p') LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO {AUDIT_OWNER_ROLE}', obj.rel);
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, %I', obj.rel, app);
        EXECUTE format('GRANT SELECT ON %s TO %I', obj.rel, app);
    END LOOP;
    FOR obj IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'audit' LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO {AUDIT_OWNER_ROLE}', obj.fn);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', obj.fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', obj.fn, app);
    END LOOP;
    EXECUTE format('REVOKE ALL ON SCHEMA audit FROM PUBLIC, %I', app);
    EXECUTE format('GRANT USAGE ON SCHEMA audit TO %I', app);
    EXECUTE format('GRANT INSERT ON audit.audit_log TO %I', app);
    RETURN true;
END $$;
REVOKE ALL ON FUNCTION public.onemap_harden_audit() FROM PUBLIC;
"""


def harden_grant_sql(app_role: str) -> str:
    return f'GRANT EXECUTE ON FUNCTION public.onemap_harden_audit() TO "{app_role}"'


def install_hardening(conn: Any, app_role: str) -> None:
    """Create the owner role and the hardening function (superuser connection, any driver with ``execute``),
    then apply it to an audit schema that already exists."""
    conn.execute(HARDEN_SQL)
    conn.execute(harden_grant_sql(app_role))
    conn.execute("SELECT public.onemap_harden_audit()")  # an already-migrated database is hardened now


def print_sql(app_role: str) -> str:
    """What a DBA runs as a superuser on a server OneMap does not manage (``onemap audit harden-sql``)."""
    return (f"-- as a superuser, in the OneMap database; then run the migrations (or call it again)\n"
            f"{HARDEN_SQL}\n{harden_grant_sql(app_role)};\nSELECT public.onemap_harden_audit();\n")
