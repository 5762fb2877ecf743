"""Expired sessions, spent counters and old temporary grants are purged — by `onemap user purge-sessions` and, in a
deployment without cron, now and then from request handling — and every purge is audited; the audit log never is."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.auth_support import audit_rows, make_app, rows, sign_in, user_id

# name → (stage, created_at, last_seen_at); the defaults are 30 min idle, 8 h absolute, 5 min for a half sign-in
SESSIONS = {
    "idle": ("full", "now() - interval '2 hours'", "now() - interval '31 minutes'"),
    "too_old": ("full", "now() - interval '8 hours 1 minute'", "now()"),
    "half_done": ("totp", "now() - interval '6 minutes'", "now() - interval '6 minutes'"),
    "fresh_half": ("totp", "now() - interval '1 minute'", "now() - interval '1 minute'"),
    "live": ("full", "now() - interval '1 hour'", "now() - interval '29 minutes'"),
}
# name → (expires_at, revoked_at); auth.purge.grant_retention_days is 365
GRANTS = {
    "expired_long_ago": ("now() - interval '400 days'", None),
    "revoked_long_ago": ("now() + interval '1 day'", "now() - interval '400 days'"),
    "expired_recently": ("now() - interval '10 days'", None),
    "in_force": ("now() + interval '1 day'", None),
}


def _seed(url: str) -> None:
    uid = user_id(url, "grid_worker")
    for name, (stage, created, seen) in SESSIONS.items():
        rows(url, f"INSERT INTO auth_sessions (id_hash, user_id, stage, csrf_token, created_at, last_seen_at) "
                  f"VALUES (:h, :u, :s, 'x', {created}, {seen})", h=name.ljust(64, "0"), u=uid, s=stage)
    for name, (expires, revoked) in GRANTS.items():
        rows(url, f"INSERT INTO grants (user_id, role, starts_at, expires_at, reason, revoked_at) VALUES "
                  f"(:u, 'dispatcher', now() - interval '500 days', {expires}, :r, {revoked or 'NULL'})",
             u=uid, r=name)


def _left(url: str) -> tuple[list[str], list[str]]:
    sessions = [r.id_hash.rstrip("0") for r in rows(url, "SELECT id_hash FROM auth_sessions WHERE csrf_token = 'x' "
                                                         "ORDER BY id_hash")]
    grants = [r.reason for r in rows(url, "SELECT reason FROM grants ORDER BY reason")]
    return sessions, grants


def test_the_command_purges_what_has_expired_and_nothing_else(fresh_db: str, demo_artifacts: Path,  # noqa: ANN001
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import cli

    client = make_app(fresh_db, demo_artifacts, purge={"every_minutes": 0}).test_client()
    sign_in(client, "enterprise")
    _seed(fresh_db)
    rows(fresh_db, "INSERT INTO rate_limit_buckets (rule, key, tokens, updated_at, full_at) VALUES "
                   "('login', 'ip:10.0.0.9', 9, now() - interval '2 minutes', now() - interval '1 minute'), "
                   "('login', 'ip:10.0.0.8', 0, now(), now() + interval '1 minute')")
    audit_before = len(audit_rows(fresh_db))

    monkeypatch.setenv("DATABASE_URL", fresh_db)
    monkeypatch.setenv("ONEMAP_VAR", str(demo_artifacts))
    result = CliRunner().invoke(cli, ["user", "purge-sessions"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 auth_sessions" in result.output and "2 grants" in result.output

    assert _left(fresh_db) == (["fresh_half", "live"], ["expired_recently", "in_force"])
    assert [r.key for r in rows(fresh_db, "SELECT key FROM rate_limit_buckets WHERE key LIKE 'ip:10.%'")] == \
        ["ip:10.0.0.8"]  # the spent one went, the refilling one stays
    assert client.get("/api/auth/me").status_code == 200  # a real, live session is left alone
    audit = audit_rows(fresh_db)
    assert len(audit) >= audit_before + 1 and audit[audit_before].action == "auth.purge"  # nothing was deleted
    record = audit_rows(fresh_db, "auth.purge")[-1]
    assert record.username.startswith("cli:") and record.details["trigger"] == "cli"
    assert record.details["auth_sessions"] == 3 and record.details["grants"] == 2
    assert record.details["rate_limit_buckets"] == 1


def test_requests_purge_at_most_once_per_period_across_workers(fresh_db: str, demo_artifacts: Path) -> None:
    _seed(fresh_db)
    # Two workers of one deployment: each looks when its own clock says so; only one gets the turn per period.
    first = make_app(fresh_db, demo_artifacts, purge={"every_minutes": 1})
    second = make_app(fresh_db, demo_artifacts, purge={"every_minutes": 1})
    assert first.test_client().get("/healthz").status_code == 200
    assert _left(fresh_db)[0] == ["fresh_half", "live"]
    auto = audit_rows(fresh_db, "auth.purge")
    assert len(auto) == 1 and auto[0].username == "system:auto-purge" and auto[0].details["trigger"] == "auto"
    assert auto[0].details["auth_sessions"] == 3

    rows(fresh_db, "UPDATE auth_sessions SET last_seen_at = now() - interval '1 hour' WHERE id_hash LIKE 'live%'")
    second.test_client().get("/healthz")
    assert _left(fresh_db)[0] == ["fresh_half", "live"]  # the turn of this minute was taken
    # A minute later (the turn's bucket aged by hand), the next worker to look purges.
    rows(fresh_db, "UPDATE rate_limit_buckets SET updated_at = updated_at - interval '61 seconds', "
                   "full_at = full_at - interval '61 seconds' WHERE rule = 'auth.purge'")
    third = make_app(fresh_db, demo_artifacts, purge={"every_minutes": 1})
    third.test_client().get("/healthz")
    assert _left(fresh_db)[0] == ["fresh_half"]
    assert len(audit_rows(fresh_db, "auth.purge")) == 2


def test_no_automatic_purge_when_switched_off(fresh_db: str, demo_artifacts: Path) -> None:
    _seed(fresh_db)
    make_app(fresh_db, demo_artifacts, purge={"every_minutes": 0}).test_client().get("/healthz")
    assert len(_left(fresh_db)[0]) == len(SESSIONS)
    assert audit_rows(fresh_db, "auth.purge") == []

