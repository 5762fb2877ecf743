"""Rate limits are kept in the database: every worker process, every server of a deployment counts against one
limit, and concurrent requests cannot overdraw a bucket."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from access.authn import throttle
from access.settings import RateRule
from tests.integration.auth_support import LOGIN, audit_rows, make_app, rows

STRICT_LOGIN = {"login": {"requests": 1, "per_seconds": 3600, "burst": 3}}


def test_two_application_instances_share_one_limit(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    # Two create_app() on one database: what two gunicorn workers (or two servers behind nginx) are.
    first = make_app(fresh_db, demo_artifacts, rate_limits=STRICT_LOGIN).test_client()
    second = make_app(fresh_db, demo_artifacts, rate_limits=STRICT_LOGIN).test_client()
    body = {"username": "grid_worker", "password": "Wrong-password-1"}
    statuses = [client.post(LOGIN, json=body).status_code for client in (first, second, first)]
    assert statuses == [401, 401, 401]
    limited = second.post(LOGIN, json=body)
    assert limited.status_code == 429 and limited.get_json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert first.post(LOGIN, json=body).status_code == 429
    assert [r.key for r in rows(fresh_db, "SELECT key FROM rate_limit_buckets WHERE rule = 'login'")] == \
        ["ip:127.0.0.1"]
    assert len(audit_rows(fresh_db, "http.rate_limited")) >= 1


def test_concurrent_requests_cannot_overdraw_a_bucket(fresh_db: str) -> None:
    rule = RateRule("burst5", ("/x",), None, "ip", 1, 3600.0, 5)
    engine = sa.create_engine(fresh_db, pool_size=12)
    answers: list[int] = []
    start = threading.Barrier(12)

    def hit() -> None:
        start.wait()
        with engine.begin() as conn:
            answers.append(throttle.take(conn, rule, "ip:10.0.0.1"))

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert sorted(answers)[:5] == [0] * 5 and all(a > 0 for a in sorted(answers)[5:])


def test_the_bucket_refills_with_time(fresh_db: str) -> None:
    rule = RateRule("refill", ("/x",), None, "ip", 1, 60.0, 2)  # one token a minute, two at most
    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        assert [throttle.take(conn, rule, "k") for _ in range(3)] == [0, 0, 60]
        # Pretend 90 s went by: one token back (not two: a refused request took nothing, and 90 s is 1.5).
        conn.execute(sa.text("UPDATE rate_limit_buckets SET updated_at = updated_at - interval '90 seconds'"))
        assert throttle.take(conn, rule, "k") == 0
        assert 25 <= throttle.take(conn, rule, "k") <= 30
    engine.dispose()


def test_spent_buckets_and_stale_failure_counters_are_purged(fresh_db: str) -> None:
    rule = RateRule("gone", ("/x",), None, "ip", 1, 1.0, 1)
    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        throttle.take(conn, rule, "old")
        throttle.take(conn, RateRule("kept", ("/x",), None, "ip", 1, 3600.0, 1), "recent")
        conn.execute(sa.text("UPDATE rate_limit_buckets SET full_at = now() - interval '1 second' "
                             "WHERE rule = 'gone'"))
        conn.execute(sa.text(
            "INSERT INTO login_failures (scope, key, failures, window_started_at, locked_until) VALUES "
            "('account', 'stale', 2, now() - interval '1 hour', NULL), "
            "('account', 'locked', 0, now() - interval '1 hour', now() + interval '5 minutes'), "
            "('account', 'counting', 2, now() - interval '1 minute', NULL)"))
        counts = throttle.purge(conn, timedelta(minutes=15))
        assert counts == {"rate_limit_buckets": 1, "login_failures": 1}
        left = conn.execute(sa.text("SELECT key FROM login_failures ORDER BY key")).scalars().all()
        assert left == ["counting", "locked"]
        assert conn.execute(sa.text("SELECT rule FROM rate_limit_buckets")).scalars().all() == ["kept"]
    engine.dispose()
