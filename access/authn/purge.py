"""Housekeeping of the authentication tables: expired sessions, spent rate-limit buckets and lock-out counters,
and temporary grants long expired or revoked. Never the audit log (``onemap audit purge`` archives that).

Run by ``onemap user purge-sessions`` (cron, if a deployment has one) and, so that one without cron stays clean
too, from request handling: each worker looks at most every ``auth.purge.every_minutes`` (a clock comparison in
memory), and then one worker of the whole deployment wins the turn in the database and purges.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from access import audit
from access.audit import AuditEvent
from access.authn import sessions, throttle
from access.settings import AuthSettings, RateRule

log = logging.getLogger(__name__)

TURN_KEY = "deployment"


def purge_expired(conn: Connection, settings: AuthSettings) -> dict[str, int]:
    """Delete what has expired; returns the number of rows deleted per table."""
    counts = {"auth_sessions": sessions.purge_expired(conn, settings)}
    counts.update(throttle.purge(conn, settings.failure_window))
    counts["grants"] = conn.execute(text(
        "DELETE FROM grants WHERE expires_at < now() - :keep OR revoked_at < now() - :keep"),
        {"keep": settings.grant_retention}).rowcount
    return counts


def record(conn: Connection, counts: dict[str, int], trigger: str, **who: str) -> None:
    audit.record(AuditEvent("auth.purge", object_type="auth_tables", details={**counts, "trigger": trigger},
                            **who), conn=conn, environ={})


def _turn_rule(every: timedelta) -> RateRule:
    # One token per period for the whole deployment: the same shared buckets as the rate limits.
    return RateRule("auth.purge", ("/",), None, "ip", 1, every.total_seconds(), 1)


class AutoPurge:
    """Called on every request; purges at most once per period across every worker of the deployment."""

    def __init__(self, settings: AuthSettings, engine: Callable[[], Engine]) -> None:
        self.every = settings.purge_every
        self.settings = settings
        self._engine = engine
        self._next_look = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, int] | None:
        if self.every is None or time.monotonic() < self._next_look:
            return None
        with self._lock:
            now = time.monotonic()
            if now < self._next_look:
                return None
            self._next_look = now + self.every.total_seconds()
        try:
            return self._run(self.every)
        except Exception:  # housekeeping must never fail the request that happened to trigger it
            log.exception("automatic purge of expired sessions failed")
            return None

    def _run(self, every: timedelta) -> dict[str, int] | None:
        with self._engine().begin() as conn:
            if throttle.take(conn, _turn_rule(every), TURN_KEY):
                return None  # another worker had this turn
            counts = purge_expired(conn, self.settings)
            if any(counts.values()):  # an empty purge every few minutes would only bury the log
                record(conn, counts, "auto", username="system:auto-purge", user_agent="onemap")
        log.info("purged expired authentication rows", extra={"counts": counts})
        return counts
