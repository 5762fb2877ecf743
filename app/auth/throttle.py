"""Lock-out after repeated sign-in failures (in the database, shared by every worker) and in-process token-bucket
rate limits (per worker: cheap, and a limit of N per worker is still a limit)."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.auth.settings import RateRule


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
class RateLimiter:
    """Token buckets keyed by (rule, client): ``burst`` tokens, refilled at ``requests / per_seconds`` per second.

    Bounded: the least recently used buckets are dropped beyond ``max_keys`` (a dropped bucket is a full one,
    so under a flood of distinct keys the limiter errs towards letting requests through, never towards memory).
    """

    def __init__(self, rules: tuple[RateRule, ...], max_keys: int = 50_000) -> None:
        self.rules = rules
        self.max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def matching(self, method: str, path: str) -> list[RateRule]:
        return [r for r in self.rules if r.matches(method, path)]

    def take(self, rule: RateRule, key: str, now: float | None = None) -> int:
        """Take one token; return 0 when allowed, else the whole seconds until a token is available."""
        now = time.monotonic() if now is None else now
        rate = rule.requests / rule.per_seconds
        with self._lock:
            tokens, last = self._buckets.pop((rule.name, key), (float(rule.burst), now))
            tokens = min(float(rule.burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[(rule.name, key)] = (tokens - 1.0, now)
                allowed = True
            else:
                self._buckets[(rule.name, key)] = (tokens, now)
                allowed = False
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return 0 if allowed else max(1, math.ceil((1.0 - tokens) / rate))
