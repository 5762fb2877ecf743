"""The audit log: hash chain verified by `onemap audit verify` (exit 1 naming the first broken row), append-only for
the application's own database role, purge with archive + anchor, concurrent writers, the auditors' search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from access import audit
from access.audit import AuditEvent
from access.audit.chain import purge, verify_archive, verify_chain
from layers import migrate
from tests.integration.auth_support import audit_rows, make_app, rows, sign_in, superuser_url


def _verify_cli(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("ONEMAP_CONFIG", None)
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "audit", "verify"],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2],
                          timeout=120)


def _psql(url: str, *statements: str) -> None:
    u = sa.engine.make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                         autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _some_records(url: str, n: int = 5) -> list[int]:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        ids = [audit.record(AuditEvent("test.event", object_type="thing", object_id=i, details={"i": i}), conn=conn)
               for i in range(n)]
    engine.dispose()
    return ids


def test_verify_names_the_row_a_superuser_edited(fresh_db: str, pg_cluster) -> None:  # noqa: ANN001
    ids = _some_records(fresh_db)
    ok = _verify_cli(fresh_db)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{ids[-1]} rows, head id {ids[-1]}" in ok.stdout   # the demo's own records (case events) and these
    # Someone with the keys to the server rewrites history (they can switch the trigger off; the app role cannot).
    _psql(superuser_url(pg_cluster, fresh_db),
          "ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_append_only",
          f"UPDATE audit.audit_log SET outcome = 'denied' WHERE id = {ids[2]}",
          "ALTER TABLE audit.audit_log ENABLE TRIGGER audit_log_append_only")
    broken = _verify_cli(fresh_db)
    assert broken.returncode == 1
    assert f"BROKEN at row {ids[2]}" in broken.stdout and "altered" in broken.stdout


def test_verify_notices_a_deleted_row(fresh_db: str, pg_cluster) -> None:  # noqa: ANN001
    ids = _some_records(fresh_db)
    _psql(superuser_url(pg_cluster, fresh_db), "SET session_replication_role = replica",
          f"DELETE FROM audit.audit_log WHERE id = {ids[1]}")
    with sa.create_engine(fresh_db).connect() as conn:
        report = verify_chain(conn)
    assert not report.ok and report.broken_id == ids[1] and "missing" in report.reason


@pytest.mark.parametrize("statement", [
    "UPDATE audit.audit_log SET action = 'nothing.happened'",
    "DELETE FROM audit.audit_log",
    "TRUNCATE audit.audit_log",
    "ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_append_only",
    "DROP TABLE audit.audit_log",
    "DROP SCHEMA audit CASCADE",
    "ALTER TABLE audit.audit_log OWNER TO onemap",
    "CREATE OR REPLACE FUNCTION audit.forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN OLD; END$$",
    "INSERT INTO audit.audit_anchor (purged_at, purged_by, through_id, through_hash, rows, archive_sha256, "
    "archive_name) VALUES (now(), 'x', 1, 'x', 1, 'x', 'x')",
])
def test_the_application_role_cannot_rewrite_the_log(fresh_db: str, statement: str) -> None:
    before = len(audit_rows(fresh_db))   # the demo city's own records (its hidden-danger history)
    _some_records(fresh_db, 2)
    engine = sa.create_engine(fresh_db)  # the app's own role, as the application connects
    with pytest.raises(sa.exc.DBAPIError) as err, engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert isinstance(err.value.orig, psycopg.errors.InsufficientPrivilege)
    engine.dispose()
    assert len(audit_rows(fresh_db)) == before + 2


def test_clients_cannot_choose_the_chain_fields(fresh_db: str) -> None:
    before = audit_rows(fresh_db)
    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO audit.audit_log (id, action, outcome, prev_hash, hash) "
                             "VALUES (999, 'forged', 'success', 'a', 'b')"))
        with pytest.raises(sa.exc.DBAPIError), conn.begin_nested():
            conn.execute(sa.text("INSERT INTO audit.audit_log (action, outcome, ts) "
                                 "VALUES ('backdated', 'success', now() - interval '1 day')"))
    row = audit_rows(fresh_db)[len(before)]
    assert row.action == "forged" and row.id == len(before) + 1 and len(row.hash) == 64
    assert row.prev_hash == (before[-1].hash if before else "0" * 64)
    with engine.connect() as conn:
        assert verify_chain(conn).ok
    engine.dispose()


def test_purge_archives_old_rows_and_the_rest_still_verifies(empty_db: str, tmp_path: Path) -> None:
    # a log that began long ago: only an empty log takes explicit timestamps, so not the demo city's
    fresh_db = empty_db
    migrate_engine = sa.create_engine(fresh_db)
    migrate.upgrade(migrate_engine)
    migrate_engine.dispose()
    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        # Only an empty log takes explicit timestamps (they may never go backwards): a log that began long ago.
        for days in (300, 250, 200):
            conn.execute(sa.text("INSERT INTO audit.audit_log (action, outcome, ts) "
                                 "VALUES ('old.event', 'success', now() - make_interval(days => :d))"), {"d": days})
    recent = _some_records(fresh_db, 3)
    with engine.begin() as conn:
        with pytest.raises(sa.exc.DBAPIError), conn.begin_nested():  # the database keeps young rows whatever
            conn.execute(sa.text("SELECT audit.purge(:id, repeat('a', 64), 'x')"), {"id": recent[-1]})
        result = purge(conn, 180, tmp_path)
    assert result.rows == 3 and result.through_id == 3
    assert [r.action for r in audit_rows(fresh_db)] == ["test.event"] * 3
    with engine.connect() as conn:
        report = verify_chain(conn)
    assert report.ok and report.rows == 3
    assert verify_archive(result.archive).ok
    anchor = rows(fresh_db, "SELECT through_id, archive_name FROM audit.audit_anchor")[0]
    assert anchor.through_id == 3 and anchor.archive_name == result.archive.name
    lines = result.archive.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and json.loads(lines[1])["id"] == 1
    # An altered archive is caught too.
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(lines[0] + "\n" + lines[1].replace("old.event", "nothing") + "\n" + "\n".join(lines[2:]))
    assert not verify_archive(tampered).ok
    engine.dispose()


def test_concurrent_writers_keep_one_unbroken_chain(fresh_db: str) -> None:
    before = len(audit_rows(fresh_db))
    engine = sa.create_engine(fresh_db, pool_size=8)

    def writer(n: int) -> None:
        for i in range(20):
            with engine.begin() as conn:
                audit.record(AuditEvent("test.concurrent", details={"writer": n, "i": i}), conn=conn)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with engine.connect() as conn:
        report = verify_chain(conn)
    engine.dispose()
    assert report.ok and report.rows == before + 120


def test_auditors_search_the_log_and_nobody_else_does(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    app = make_app(fresh_db, demo_artifacts)
    auditor = app.test_client()
    sign_in(auditor, "auditor")
    found = auditor.get("/api/audit?action=auth.&outcome=success").get_json()["rows"]
    # (the demo seeder stores TOTP secrets in clear: the first sign-in encrypts it, and says so)
    assert found and {r["action"] for r in found} <= {"auth.login", "auth.login_step", "auth.totp_secret_sealed"}
    assert all(r["username"] == "auditor" for r in found)
    page = auditor.get("/audit?username=auditor&since=2000-01-01T00:00")
    assert page.status_code == 200 and "auth.login" in page.get_data(as_text=True)
    assert auditor.get("/audit/verify").status_code == 200
    assert auditor.get("/api/audit?outcome=maybe").status_code == 400
    assert auditor.get("/security/users").status_code == 403
    secadmin = app.test_client()
    sign_in(secadmin, "secadmin")
    assert secadmin.get("/audit").status_code == 403
    assert secadmin.get("/api/audit").status_code == 403
    assert audit_rows(fresh_db, "audit.search")  # reading the log is itself on the record


def test_every_write_request_is_recorded_with_its_outcome(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    app = make_app(fresh_db, demo_artifacts)
    client = app.test_client()
    sign_in(client, "grid_worker")
    client.post("/api/auth/tokens", json={"name": "x", "scopes": ["nope"]})
    client.delete("/api/auth/tokens/424242")
    writes = [(r.method, r.path, r.outcome, r.details["status"]) for r in audit_rows(fresh_db)
              if r.action.startswith("http.") and r.username == "grid_worker"]
    assert writes == [("POST", "/api/auth/tokens", "failed", 400), ("DELETE", "/api/auth/tokens/424242", "failed", 404)]
