"""The timer worker: fires due deadline timers from PostgreSQL, each exactly once.

Timers are rows (``case_timers``). A worker takes the oldest due one with ``FOR UPDATE SKIP LOCKED`` — several
workers (or a worker and a restart) never take the same row — locks its case, runs the clock's warning or breach,
and marks the timer fired in the same transaction: if anything fails, nothing is written and the timer stays
due; if it commits, the timer never fires again. Timers missed while nothing ran (downtime) are simply due on
the next run and fire once. Started by ``onemap serve`` (a thread in the server's master process) and runnable
alone as ``onemap worker``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from core import clock as core_clock
from core.changes import unit_of_work
from supervision.cases import clocks, engine, registry
from supervision.cases.engine import EVENT_TYPES, EffectContext

log = logging.getLogger(__name__)

_TAKE = text("SELECT id, case_id, clock, generation, kind, fire_at FROM case_timers WHERE fired_at IS NULL "
             "AND fire_at <= :now ORDER BY fire_at, id LIMIT 1 FOR UPDATE SKIP LOCKED")


def fire_one(db: Engine, config: Mapping[str, Any], now: datetime | None = None) -> bool:
    """Fire the oldest due timer; False when none is due (or all due ones are being fired elsewhere)."""
    now = now or core_clock.now()
    with db.connect() as conn, unit_of_work(conn, EVENT_TYPES) as changes:
        timer = conn.execute(_TAKE, {"now": now}).first()
        if timer is None:
            return False
        conn.execute(text("UPDATE case_timers SET fired_at = :now WHERE id = :id"), {"now": now, "id": timer.id})
        case = engine.lock(conn, timer.case_id)
        state = conn.execute(text("SELECT status, generation, due_date, due_at FROM case_clocks WHERE case_id = :c AND "
                                  "clock = :k"), {"c": timer.case_id, "k": timer.clock}).first()
        if case is None or state is None or state.generation != timer.generation or state.status != "running":
            return True   # a timer of an earlier run of the clock: consumed, nothing to do
        ct = registry.pinned(conn, case["case_type"], case["type_version"])
        clock = ct.clocks.get(timer.clock)
        if clock is None:
            return True
        ctx = EffectContext(conn, ct, case, {}, None, changes, now, parent=engine.parent_of(conn, case),
                            config=config)
        if timer.kind == "breach":
            conn.execute(text("UPDATE case_clocks SET status = 'breached', breached_at = :now "
                              "WHERE case_id = :c AND clock = :k"), {"now": now, "c": timer.case_id, "k": timer.clock})
            ctx.results["clock"] = {"clock": clock.id, "due_date": state.due_date.isoformat(), "status": "breached",
                                    **({"due_at": state.due_at.isoformat()} if state.due_at else {})}
            engine.run_effects(ctx, clock.breach)
        else:
            ctx.results["clock"] = {"clock": clock.id, "due_date": state.due_date.isoformat(), "status": "warned",
                                    **({"due_at": state.due_at.isoformat()} if state.due_at else {})}
            engine.run_effects(ctx, clock.on_warn)
        engine.finish(ctx, f"clock.{timer.kind}", case["state"], case["state"])
    return True


def recount_provisional(db: Engine) -> int:
    """Recount due dates counted by the weekday rule once their year's schedule has been entered."""
    n = 0
    with db.connect() as conn, unit_of_work(conn, EVENT_TYPES):
        known = set(conn.execute(text("SELECT year FROM workday_years")).scalars())
        rows = conn.execute(text(
            "SELECT k.case_id, k.clock, k.due_date FROM case_clocks k WHERE k.provisional AND k.status = 'running' "
            "FOR UPDATE SKIP LOCKED")).all()
        for r in rows:
            if r.due_date is None or r.due_date.year not in known:
                continue
            case = engine.lock(conn, r.case_id)
            ct = registry.pinned(conn, case["case_type"], case["type_version"])
            names = engine.names_for(case, {}, None, engine.parent_of(conn, case))
            clocks._recount(conn, clocks.calendar(conn), ct.clocks[r.clock], r.case_id, names)  # noqa: SLF001
            due, warn, breached, due_at = clocks.summarise_instants(conn, r.case_id)
            conn.execute(text("UPDATE cases SET due_date = :d, warn_date = :w, due_at = :a WHERE id = :id"),
                         {"d": due, "w": warn, "a": due_at, "id": r.case_id})
            n += 1
    return n


def run_due(db: Engine, config: Mapping[str, Any], now: datetime | None = None, limit: int = 100_000) -> int:
    """Fire every due timer (one transaction each); returns how many were taken."""
    fired = 0
    while fired < limit and fire_one(db, config, now):
        fired += 1
    return fired


def work(db: Engine, config: Mapping[str, Any], stop: threading.Event) -> None:
    """The worker loop: due timers every ``cases.worker_interval_s`` seconds until ``stop`` is set."""
    interval = float(config.get("worker_interval_s", 30))
    log.info("case timer worker started (every %.1f s)", interval)
    while True:   # one round at least: `onemap worker --once` sets ``stop`` before starting
        try:
            recount_provisional(db)
            fired = run_due(db, config)
            if fired:
                log.info("case timers fired: %d", fired)
        except Exception:  # noqa: BLE001 - a worker outlives a failed round (the timer stays due)
            log.exception("case timer round failed")
        if stop.wait(interval if not stop.is_set() else 0):
            return


def background(settings: Mapping[str, Any], stop: threading.Event) -> None:
    """The manifest's background worker: the engine from the configuration, then :func:`work`."""
    from core.db import get_engine

    registry.configure(settings)
    work(get_engine(dict(settings)), settings["cases"], stop)


__all__ = ["background", "fire_one", "recount_provisional", "run_due", "work"]
