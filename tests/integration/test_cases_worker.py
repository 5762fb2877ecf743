"""`onemap worker --once` fires the deadline timers that fell due while nothing ran, once; a second round finds
nothing (the restart case of the issue: a missed timer after downtime fires once on start, never twice)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from core import clock
from supervision.cases import service
from tests.integration.cases_support import CONFIG, caller


def _worker(url: str, var: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "ONEMAP_VAR": str(var)}
    env.pop("ONEMAP_CONFIG", None)
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "worker", "--once"],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2],
                          timeout=180)


def test_the_worker_fires_missed_timers_once(fresh_db: str, tmp_path: Path) -> None:
    engine = sa.create_engine(fresh_db)
    with engine.connect() as conn:
        uscc, district = conn.execute(sa.text("SELECT uscc, district_code FROM enterprises ORDER BY uscc LIMIT 1")).one()
    who, access = caller("district_regulator", district=district)
    # a rectification ordered 40 days ago with a deadline 10 days ago: the worker "was down" since
    with clock.travel(timedelta(days=-40)):
        with engine.connect() as conn:
            case = service.open_case(conn, {"case_type": "hidden_danger", "anchor": {"kind": "enterprise", "id": uscc},
                                            "form": {"title": "压力表未检定", "level": "general", "category": "equipment"}},
                                     access=access, identity=who, config=CONFIG)
        with engine.connect() as conn:
            service.transition(conn, case["id"], {"action": "order_rectification", "form": {
                "rectify_by": (clock.today() + timedelta(days=30)).isoformat(), "requirements": "限期检定"}},
                access=access, identity=who, config=CONFIG)
    first = _worker(fresh_db, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = _worker(fresh_db, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    with engine.connect() as conn:
        breaches = conn.execute(sa.text("SELECT count(*) FROM case_events WHERE case_id = :c AND action = 'clock.breach'"),
                                {"c": case["id"]}).scalar()
        listings = conn.execute(sa.text("SELECT count(*) FROM cases WHERE parent_id = :c"), {"c": case["id"]}).scalar()
        layer = conn.execute(sa.text("SELECT overdue, listed FROM hidden_dangers WHERE case_id = :c"),
                             {"c": case["id"]}).one()
    engine.dispose()
    assert (breaches, listings, tuple(layer)) == (1, 1, (True, True))
