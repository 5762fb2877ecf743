"""Lock-out after repeated sign-in failures and token-bucket rate limits, both in the database: shared by every
worker process and every server."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from access.settings import RateRule


# -- lock-out ------------------------------------------------------------------------------------------------
def locked_for(conn: Connection, scope: str, key: str) -> int:
    """Seconds until ``key`` may try again (0: not locked)."""
    remaining = conn.execute(text(
        "SELECT ceil(extract(epoch FROM locked_until - now())) FROM login_failures "
        "WHERE scope = :s AND key = :k AND locked_until > now()"), {"s": scope, "k": key[:200]}).scalar()
    return int(remaining or 0)


def register_failure(conn: Connection, scope: str, key: str, max_failures: int, window: timedelta,
                     lock: timedelta) -> int:
    """Count one failure; return the lock duration in seconds if this failure locks ``key`` (else 0).

    Failures older than ``window`` are forgotten; reaching ``max_failures`` locks for ``lock`` and starts
    counting afresh. One statement, so concurrent failures are all counted.
    """
    row = conn.execute(text("""
        INSERT INTO login_failures AS f (scope, key, failures, window_started_at)
        VALUES (:s, :k, 1, now())
        ON CONFLICT (scope, key) DO UPDATE SET
            failures = CASE WHEN f.window_started_at < now() - :window THEN 1 ELSE f.failures + 1 END,
            window_started_at = CASE WHEN f.window_started_at < now() - :window THEN now()
                                     ELSE f.window_started_at END
        RETURNING failures"""), {"s": scope, "k": key[:200], "window": window}).scalar_one()
    if row < max_failures:
        return 0
    conn.execute(text("UPDATE login_failures SET failures = 0, window_started_at = now(), "
                      "locked_until = now() + :lock WHERE scope = :s AND key = :k"),
                 {"s": scope, "k": key[:200], "lock": lock})
    return math.ceil(lock.total_seconds())


def clear(conn: Connection, scope: str, key: str) -> None:
    conn.execute(text("DELETE FROM login_failures WHERE scope = :s AND key = :k"), {"s": scope, "k": key[:200]})


def unlock_account(conn: Connection, username: str) -> bool:
    return conn.execute(text("DELETE FROM login_failures WHERE scope = 'account' AND key = :k RETURNING key"),
                        {"k": username[:200]}).first() is not None


# -- rate limits ---------------------------------------------------------------------------------------------
# One statement per request, atomic under concurrency: the row is locked by the upsert, the refill is computed
# from the stored time, and a refused request does not update the row (so it costs no token). The database's
# clock is the only one used, so workers on several machines agree. clock_timestamp(), not now(): a request
# waiting on another's row lock must not see time run backwards.
_TAKE = text("""
    INSERT INTO rate_limit_buckets AS b (rule, key, tokens, updated_at, full_at)
    VALUES (:rule, :key, :burst - 1, clock_timestamp(), clock_timestamp() + make_interval(secs => 1 / :rate))
    ON CONFLICT (rule, key) DO UPDATE SET
        tokens = least(:burst, b.tokens + :rate * greatest(0, extract(epoch FROM EXCLUDED.updated_at - b.updated_at)))
                 - 1,
        updated_at = greatest(b.updated_at, EXCLUDED.updated_at),
        full_at = greatest(b.updated_at, EXCLUDED.updated_at) + make_interval(secs => (:burst - (
                 least(:burst, b.tokens + :rate * greatest(0, extract(epoch FROM EXCLUDED.updated_at - b.updated_at)))
                 - 1)) / :rate)
    WHERE least(:burst, b.tokens + :rate * greatest(0, extract(epoch FROM EXCLUDED.updated_at - b.updated_at))) >= 1
    RETURNING tokens""")
_WAIT = text("""
    SELECT ceil((1 - least(:burst, tokens + :rate * greatest(0, extract(epoch FROM clock_timestamp() - updated_at))))
                / :rate)
    FROM rate_limit_buckets WHERE rule = :rule AND key = :key""")


def take(conn: Connection, rule: RateRule, key: str) -> int:
    """Take one token from the bucket of (``rule``, ``key``): 0 when allowed, else whole seconds to wait."""
    params = {"rule": rule.name[:64], "key": key[:200], "burst": float(rule.burst),
              "rate": rule.requests / rule.per_seconds}
    if conn.execute(_TAKE, params).first() is not None:
        return 0
    wait = conn.execute(_WAIT, params).scalar()
    return max(1, math.ceil(wait or 1))


class RateLimiter:
    """Token buckets keyed by (rule, client): ``burst`` tokens, refilled at ``requests / per_seconds`` per second.

    The buckets live in PostgreSQL (``rate_limit_buckets``), so every worker process and every server of a
    deployment counts against the same limit.
    """

    def __init__(self, rules: tuple[RateRule, ...], engine: Callable[[], Engine]) -> None:
        self.rules = rules
        self._engine = engine

    def matching(self, method: str, path: str) -> list[RateRule]:
        return [r for r in self.rules if r.matches(method, path)]

    def take(self, rule: RateRule, key: str) -> int:
        with self._engine().begin() as conn:
            return take(conn, rule, key)


def purge(conn: Connection, failure_window: timedelta) -> dict[str, int]:
    """Forget what has no effect any more: full buckets (a missing bucket is a full one), and failure counters
    that neither lock nor count (the next failure would start a new window anyway)."""
    buckets = conn.execute(text("DELETE FROM rate_limit_buckets WHERE full_at < clock_timestamp()")).rowcount
    failures = conn.execute(text(
        "DELETE FROM login_failures WHERE (locked_until IS NULL OR locked_until < now()) "
        "AND window_started_at < now() - :window"), {"window": failure_window}).rowcount
    return {"rate_limit_buckets": buckets, "login_failures": failures}
